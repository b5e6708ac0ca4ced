/* Soft browser fingerprint for the sign-up and log-in forms (PROGRAM_RULES.md section 6).
 *
 * Fills every <input name="fingerprint"> on the page with the SHA-256 (hex) of a
 * few stable browser traits. The server stores only a keyed hash of it and uses
 * it as a weak signal beside the signed device cookie. Without JavaScript or
 * crypto.subtle (plain HTTP) the field stays empty and the form works as usual.
 */
(function () {
  "use strict";

  var fields = document.querySelectorAll('input[name="fingerprint"]');
  if (!fields.length || !window.crypto || !window.crypto.subtle || !window.TextEncoder) { return; }

  function traits() {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    return [
      screen.width + "x" + screen.height,
      String(screen.colorDepth),
      zone,
      navigator.language || "",
      navigator.platform || "",
      String(navigator.hardwareConcurrency || "")
    ].join("|");
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(traits())).then(function (digest) {
    var value = hex(digest);
    Array.prototype.forEach.call(fields, function (field) { field.value = value; });
  }).catch(function () { /* a soft signal: leave the field empty */ });
})();
