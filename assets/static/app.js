// CodexAPI: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  var root = document.documentElement;
  root.classList.add("js");

  // ---------- Copy buttons ----------
  // <button type="button" class="copy" data-copy-target="ID">Copy</button> copies the text of #ID.

  var status = null;
  function announce(message) {
    if (!status) {
      status = document.createElement("div");
      status.className = "visually-hidden";
      status.setAttribute("role", "status");
      status.setAttribute("aria-live", "polite");
      document.body.appendChild(status);
    }
    status.textContent = "";
    // Clearing first, then writing a moment later, lets screen readers repeat the same message.
    window.setTimeout(function () {
      status.textContent = message;
    }, 50);
  }

  function selectContents(element) {
    var selection = window.getSelection && window.getSelection();
    if (!selection) {
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(element);
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Used where the asynchronous clipboard is missing (plain HTTP on a non-local address).
  function legacyCopy(element) {
    selectContents(element);
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    return ok;
  }

  function copyText(text, element) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(
        function () {
          return true;
        },
        function () {
          return legacyCopy(element);
        }
      );
    }
    return Promise.resolve(legacyCopy(element));
  }

  var timers = new WeakMap();
  function showState(button, copied) {
    if (!button.hasAttribute("data-label")) {
      button.setAttribute("data-label", button.textContent);
    }
    var label = button.getAttribute("data-label");
    button.classList.remove("copied", "copy-failed");
    button.classList.add(copied ? "copied" : "copy-failed");
    button.textContent = copied ? "Copied" : "Press Ctrl+C";
    announce(copied ? "Copied to clipboard" : "Could not copy automatically; the text is selected, press Control+C to copy it");
    var previous = timers.get(button);
    if (previous) {
      window.clearTimeout(previous);
    }
    timers.set(
      button,
      window.setTimeout(function () {
        button.textContent = label;
        button.classList.remove("copied", "copy-failed");
      }, 2000)
    );
  }

  // ---------- Print buttons ----------
  // <button type="button" data-print>Print</button> opens the browser's print dialog.

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof Element && target.closest("button[data-print]")) {
      window.print();
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) {
      return;
    }
    var button = target.closest("button.copy[data-copy-target]");
    if (!button) {
      return;
    }
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) {
      return;
    }
    var text = source.textContent || "";
    copyText(text, source).then(function (ok) {
      if (!ok) {
        selectContents(source);
      }
      showState(button, ok);
    });
  });
})();
