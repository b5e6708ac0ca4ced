/* Referral Portal: progressive enhancement only. No dependencies.
 * Loaded with <script defer>; every feature checks for its elements first,
 * so pages without them (or browsers without an API) work unchanged.
 *
 *  [data-copy-target="ID"]  copy the value/text of #ID, button shows "Copied!" for 2 s
 *  [data-share-url="URL"]   native share sheet if available, else follow the link (href)
 *                           optional data-share-title / data-share-text
 *  [data-native-share]      a button shown (it starts `hidden`) only where the browser has a native share
 *                           sheet (Web Share API: phones); shares data-share-url / -text / -title
 *  form[data-confirm="..."] ask confirm() before submitting
 *  select[data-autosubmit]  submit its form on change
 *  .site-nav [aria-current] scrolled into view when the nav row scrolls sideways (phones)
 *  [data-error-summary]     a form's error summary: focused on load, so a screen reader reads it first
 *  .table-wrap              when its table is wider than the screen: focusable (keyboard scrolling), named
 *                           by the table's caption
 */
(function () {
  "use strict";

  var COPIED_MS = 2000;

  /* Polite screen-reader announcement via #live-region (in base.html). */
  function announce(message) {
    var region = document.getElementById("live-region");
    if (!region) { return; }
    region.textContent = "";
    // A short delay makes repeated identical messages re-announce.
    window.setTimeout(function () { region.textContent = message; }, 50);
  }

  /* ---- 1. Copy buttons ------------------------------------------------- */
  function textOf(el) {
    if ("value" in el && typeof el.value === "string" && el.tagName !== "BUTTON") { return el.value; }
    return (el.textContent || "").trim();
  }

  function legacyCopy(el, text) {
    var ok = false;
    var temp = null;
    var target = el;
    try {
      if (!(el.tagName === "INPUT" || el.tagName === "TEXTAREA")) {
        temp = document.createElement("textarea");
        temp.value = text;
        temp.setAttribute("readonly", "");
        temp.className = "visually-hidden";
        document.body.appendChild(temp);
        target = temp;
      }
      target.focus();
      target.select();
      if (target.setSelectionRange) { target.setSelectionRange(0, text.length); }
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    } finally {
      if (temp && temp.parentNode) { temp.parentNode.removeChild(temp); }
    }
    return ok;
  }

  function copyText(el, text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(
        function () { return true; },
        function () { return legacyCopy(el, text); }
      );
    }
    return Promise.resolve(legacyCopy(el, text));
  }

  function flashButton(button, label, success) {
    if (!button.hasAttribute("data-original-label")) {
      button.setAttribute("data-original-label", button.textContent);
    }
    var original = button.getAttribute("data-original-label");
    window.clearTimeout(button._copyTimer);
    button.textContent = label;
    if (success) { button.classList.add("is-copied"); }
    button._copyTimer = window.setTimeout(function () {
      button.textContent = original;
      button.classList.remove("is-copied");
    }, COPIED_MS);
  }

  // The page's words for this script, in the reader's language (data-i18n-* on <body>, from base.html).
  function words(key, fallback) {
    var value = document.body.dataset["i18n" + key.charAt(0).toUpperCase() + key.slice(1)];
    return value || fallback;
  }

  function onCopyClick(event) {
    var button = event.currentTarget;
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) { return; }
    event.preventDefault();
    var text = textOf(target);
    copyText(target, text).then(function (ok) {
      if (ok) {
        flashButton(button, words("copied", "Copied!"), true);
        announce(words("copiedAnnounce", "Copied to clipboard."));
      } else {
        // Leave the text selected so the user can press Ctrl+C / long-press.
        if (target.select) { target.focus(); target.select(); }
        flashButton(button, words("pressCopy", "Press Ctrl+C"), false);
        announce(words("copyFailed", "Could not copy automatically. The text is selected, copy it with your keyboard."));
      }
    });
  }

  /* ---- 2. Native share ------------------------------------------------- */
  function onShareClick(event) {
    var el = event.currentTarget;
    var url = el.getAttribute("data-share-url");
    var native = el.hasAttribute("data-native-share");
    if ((!url && !native) || typeof navigator.share !== "function") {
      // No Web Share API: a link just follows its href; a button opens the URL.
      if (el.tagName !== "A") {
        event.preventDefault();
        var href = el.getAttribute("data-share-fallback") || url;
        if (href) { window.open(href, "_blank", "noopener"); }
      }
      return;
    }
    event.preventDefault();
    var data = {};
    if (url) { data.url = url; }
    var title = el.getAttribute("data-share-title");
    var text = el.getAttribute("data-share-text");
    if (title) { data.title = title; }
    if (text) { data.text = text; }
    navigator.share(data).catch(function (err) {
      // AbortError = user closed the sheet; anything else falls back to the link.
      if (err && err.name === "AbortError") { return; }
      var href = el.getAttribute("href") || el.getAttribute("data-share-fallback");
      if (href) { window.open(href, "_blank", "noopener"); }
    });
  }

  /* ---- 3. Confirm before submit ---------------------------------------- */
  function onConfirmSubmit(event) {
    var message = event.currentTarget.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }

  /* ---- 4. Auto-submit selects ------------------------------------------ */
  function onAutosubmitChange(event) {
    var form = event.currentTarget.form;
    if (!form) { return; }
    if (typeof form.requestSubmit === "function") { form.requestSubmit(); } else { form.submit(); }
  }

  /* ---- 5. Main nav on phones: a sideways-scrolling row; show the current page's link ---- */
  function revealCurrentNavLink() {
    var nav = document.querySelector(".site-nav");
    var current = nav && nav.querySelector('[aria-current="page"]');
    if (!current || nav.scrollWidth <= nav.clientWidth) { return; }
    var navBox = nav.getBoundingClientRect();
    var box = current.getBoundingClientRect();
    if (box.left < navBox.left || box.right > navBox.right) {
      nav.scrollLeft += box.left - navBox.left - (navBox.width - box.width) / 2;
    }
  }

  /* ---- 6. Wide tables on phones: a scrolling region keyboard users can reach ---- */
  function markScrollableTables() {
    each(".table-wrap", function (wrap) {
      var scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
      if (scrolls && !wrap.hasAttribute("tabindex")) {
        var caption = wrap.querySelector("caption");
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", (caption && caption.textContent.trim()) || document.title);
      } else if (!scrolls && wrap.getAttribute("tabindex") === "0") {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
      }
    });
  }

  function each(selector, fn) {
    var nodes = document.querySelectorAll(selector);
    for (var i = 0; i < nodes.length; i++) { fn(nodes[i]); }
  }

  function init() {
    each("[data-copy-target]", function (el) { el.addEventListener("click", onCopyClick); });
    each("[data-share-url], [data-native-share]", function (el) { el.addEventListener("click", onShareClick); });
    if (typeof navigator.share === "function") {
      each("[data-native-share]", function (el) { el.hidden = false; });
    }
    each("form[data-confirm]", function (el) { el.addEventListener("submit", onConfirmSubmit); });
    each("[data-autosubmit]", function (el) {
      el.addEventListener("change", onAutosubmitChange);
      // The submit button is only needed without JS: hide ones marked for it.
      if (el.form) {
        var noJs = el.form.querySelectorAll("[data-autosubmit-hide]");
        for (var i = 0; i < noJs.length; i++) { noJs[i].hidden = true; }
      }
    });
    revealCurrentNavLink();
    markScrollableTables();
    window.addEventListener("resize", markScrollableTables);
    var summary = document.querySelector("[data-error-summary]");
    if (summary) { summary.focus(); }
    document.documentElement.classList.add("js");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
