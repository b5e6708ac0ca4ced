import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("url_name", "label"), [("orders:catalog", "Shop"), ("orders:cart", "Shop")])
def test_nav_marks_the_section_of_the_current_page(client, url_name, label):
    client.force_login(UserFactory())
    html = client.get(reverse(url_name)).content.decode()
    assert f'aria-current="page">{label}</a>' in html
    assert 'aria-current="page">My orders</a>' not in html
    assert 'aria-current="page">Home</a>' not in html
