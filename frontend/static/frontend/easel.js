/* Easel's small behaviours, wired by data attributes (no inline scripts: the production
   Content-Security-Policy allows scripts from our own origin only).
   - [data-count-for=ID]   live character count of a text field
   - [data-cost-form]      credit cost of the form's n × size (or data-size), before submitting,
                           on its [data-cost-button] ("Generate (4 credits)")
   - [data-format] / [data-transparent]   a transparent background is not offered with JPEG
                           (the box is turned off and [data-transparent-help] says why)
   - [data-copy=SELECTOR] / [data-copy-text=TEXT]   copy to the clipboard
   - form[data-confirm]    ask before a destructive action
   - every POST form       its button shows a spinner at once and the form cannot go twice
   - [data-mask-editor]    paint a mask over an image for an edit
   - #progress[data-events] a generation's live progress over Server-Sent Events (the API's
                           stream, with the session cookie), polling when EventSource fails
   - .reveal-btn           un-blur an image under review (console)
   - [data-shortcut=KEY]   a keyboard shortcut that clicks or focuses the element (console) */
(function () {
  "use strict";

  function each(selector, fn, root) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn);
  }

  /* "1 credit", "4 credits"; `unitOnly` leaves the number out. */
  function credits(count, unitOnly) {
    var unit = count === 1 ? "credit" : "credits";
    return unitOnly ? unit : count + " " + unit;
  }

  function initCounters(root) {
    each("[data-count-for]", function (out) {
      var field = document.getElementById(out.getAttribute("data-count-for"));
      if (!field) return;
      var max = field.getAttribute("maxlength");
      var update = function () {
        out.textContent = field.value.length + (max ? " / " + max : "") + " characters";
      };
      field.addEventListener("input", update);
      update();
    }, root);
  }

  function initCost(root) {
    each("[data-cost-form]", function (form) {
      var prices = {};
      (form.getAttribute("data-prices") || "").split(",").forEach(function (pair) {
        var parts = pair.split(":");
        if (parts.length === 2) prices[parts[0]] = parseInt(parts[1], 10);
      });
      var balance = parseInt(form.getAttribute("data-balance") || "0", 10);
      var out = form.querySelector("[data-cost]");
      var unit = form.querySelector("[data-cost-unit]");
      var submit = form.querySelector("[data-cost-button]");
      var label = submit ? submit.getAttribute("data-cost-button") : "";
      var update = function () {
        var n = parseInt((form.elements.n || {}).value || "1", 10) || 0;
        // The size chosen in the form, else the one it is fixed at (an edit keeps the image's).
        var size = form.elements.size ? form.elements.size.value : form.getAttribute("data-size");
        var cost = (prices[size] || 0) * n;
        if (out) out.textContent = String(cost);
        if (unit) unit.textContent = credits(cost, true);
        if (submit) submit.textContent = cost > balance ? "Not enough credits" : label + " (" + credits(cost) + ")";
      };
      form.addEventListener("input", update);
      form.addEventListener("change", update);
      update();
    }, root);
  }

  function initFormat(root) {
    each("form", function (form) {
      var format = form.querySelector("[data-format]");
      var box = form.querySelector("[data-transparent]");
      if (!format || !box) return;
      var help = form.querySelector("[data-transparent-help]");
      var usual = help ? help.textContent : "";
      var update = function () {
        var jpeg = format.value === "jpeg";
        if (jpeg) box.checked = false;
        box.disabled = jpeg;
        if (help) help.textContent = jpeg ? help.getAttribute("data-jpeg-text") : usual;
      };
      format.addEventListener("change", update);
      update();
    }, root);
  }

  function copy(text, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* nothing to do */ }
      document.body.removeChild(area);
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-text]");
    if (button) {
      var text = button.getAttribute("data-copy-text");
      if (text === null) {
        var source = document.querySelector(button.getAttribute("data-copy"));
        text = source ? source.textContent : "";
      }
      copy(text.trim(), button);
      return;
    }
    if (event.target.closest("[data-reveal-all]")) {
      each(".reveal-wrap", function (wrap) { wrap.classList.add("revealed"); });
      return;
    }
    var reveal = event.target.closest(".reveal-btn");
    if (reveal) {
      var wrap = reveal.closest(".reveal-wrap");
      if (wrap) wrap.classList.add("revealed");
    }
  });

  /* A submitted form shows progress at once (the first request after a start can take
     seconds) and cannot be sent twice: its button spins and is disabled. htmx forms cancel
     the native submit and show their own .htmx-request state instead. */
  function markBusy(form, submitter) {
    var button = submitter || form.querySelector("button[type=submit], input[type=submit]");
    form.setAttribute("aria-busy", "true");
    if (!button) return;
    button.setAttribute("aria-busy", "true");
    // Disabled after the browser has read the form, so the button's own name and value go too.
    setTimeout(function () { button.disabled = true; }, 0);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.getAttribute) return;
    if (form.getAttribute("aria-busy") === "true") { event.preventDefault(); return; }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
    var method = (form.getAttribute("method") || "get").toLowerCase();
    if (!event.defaultPrevented && method === "post") markBusy(form, event.submitter);
  });

  /* Back from the next page (bfcache): the form is usable again. */
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    each("[aria-busy=true]", function (element) {
      element.removeAttribute("aria-busy");
      if (element.matches("button, input")) element.disabled = false;
    });
  });

  /* The mask editor. DALL-E 2's rule: the mask is the image with the area to repaint made
     fully transparent. Painted strokes are drawn on an overlay; on submit, the overlay's
     painted pixels become transparent holes in an opaque copy of the image. */
  function initMaskEditor(root) {
    each("[data-mask-editor]", function (stage) {
      var imageLayer = stage.querySelector(".image-layer");
      var maskLayer = stage.querySelector(".mask-layer");
      var form = document.querySelector("[data-mask-form]");
      if (!imageLayer || !maskLayer || !form) return;
      var picture = new Image();
      var ctx = maskLayer.getContext("2d");
      var optional = stage.hasAttribute("data-mask-optional");
      var loaded = false;
      picture.onload = function () {
        loaded = true;
        imageLayer.getContext("2d").drawImage(picture, 0, 0, imageLayer.width, imageLayer.height);
      };
      if (stage.getAttribute("data-src")) picture.src = stage.getAttribute("data-src");
      /* An image of the user's own: drawn from the chosen file, the canvases at its size. */
      var fileInput = stage.getAttribute("data-file-input") && document.querySelector(stage.getAttribute("data-file-input"));
      if (fileInput) fileInput.addEventListener("change", function () {
        var file = fileInput.files && fileInput.files[0];
        loaded = false;
        painted = false;
        if (!file) return;
        var probe = new Image();
        probe.onload = function () {
          [imageLayer, maskLayer].forEach(function (layer) {
            layer.width = probe.naturalWidth;
            layer.height = probe.naturalHeight;
          });
          picture.src = probe.src;
        };
        probe.src = URL.createObjectURL(file);
      });
      /* "What to do": the painting area and the prompt only for a repaint. */
      var choices = form.querySelectorAll("[data-action-choice]");
      var showEditOnly = function () {
        var edit = !choices.length || form.querySelector("[data-action-choice]:checked").value === "edit";
        each("[data-edit-only]", function (element) { element.hidden = !edit; });
        return edit;
      };
      Array.prototype.forEach.call(choices, function (choice) { choice.addEventListener("change", showEditOnly); });
      if (choices.length) showEditOnly();
      var brush = document.querySelector("[data-brush]");
      var painting = false;
      var painted = false;
      var point = function (event) {
        var rect = maskLayer.getBoundingClientRect();
        return {
          x: (event.clientX - rect.left) * maskLayer.width / rect.width,
          y: (event.clientY - rect.top) * maskLayer.height / rect.height
        };
      };
      var dab = function (event) {
        var p = point(event);
        var radius = (brush ? parseInt(brush.value, 10) : 32) * maskLayer.width / 512;
        ctx.fillStyle = "rgba(255, 64, 129, 0.55)";
        ctx.beginPath();
        ctx.arc(p.x, p.y, radius, 0, Math.PI * 2);
        ctx.fill();
        painted = true;
      };
      maskLayer.addEventListener("pointerdown", function (e) { painting = true; maskLayer.setPointerCapture(e.pointerId); dab(e); });
      maskLayer.addEventListener("pointermove", function (e) { if (painting) dab(e); });
      maskLayer.addEventListener("pointerup", function () { painting = false; });
      var clear = document.querySelector("[data-mask-clear]");
      if (clear) clear.addEventListener("click", function () { ctx.clearRect(0, 0, maskLayer.width, maskLayer.height); painted = false; });
      var all = document.querySelector("[data-mask-all]");
      if (all) all.addEventListener("click", function () {
        ctx.fillStyle = "rgba(255, 64, 129, 0.55)";
        ctx.fillRect(0, 0, maskLayer.width, maskLayer.height);
        painted = true;
      });
      form.addEventListener("submit", function (event) {
        if (optional && (!painted || !loaded || !showEditOnly())) {
          form.elements.mask.value = "";  // the PNG's own transparent area, or a variation
          return;
        }
        if (!painted) {
          event.preventDefault();
          window.alert("Paint over the area you want to change first.");
          return;
        }
        var out = document.createElement("canvas");
        out.width = maskLayer.width;
        out.height = maskLayer.height;
        var octx = out.getContext("2d");
        octx.drawImage(picture, 0, 0, out.width, out.height);
        var pixels = octx.getImageData(0, 0, out.width, out.height);
        var strokes = ctx.getImageData(0, 0, out.width, out.height).data;
        for (var i = 3; i < pixels.data.length; i += 4) {
          pixels.data[i] = strokes[i] > 0 ? 0 : 255;
        }
        octx.putImageData(pixels, 0, 0);
        form.elements.mask.value = out.toDataURL("image/png");
      });
    }, root);
  }

  /* Live progress. The fragment (#progress) names the generation's event stream while the job
     is not final. Each `progress` event updates the step in place; a new status re-fetches the
     fragment (htmx, event `easel:refresh`), which brings the tiles and, once final, drops
     data-events so the stream is closed. An event may carry a preview of an image still being
     made (`partial_image`: {`b64_json`, base64 PNG, JPEG or WebP; `index`, the preview's number},
     as the worker publishes it for the job's first image): it is shown in the first image's
     pending tile until the next fragment replaces it. Without
     EventSource, or when the stream fails, the fragment is re-fetched every second instead. */
  var live = { url: null, source: null, timer: null };

  function liveStop() {
    if (live.source) live.source.close();
    if (live.timer) clearInterval(live.timer);
    live = { url: null, source: null, timer: null };
  }

  function progressRefresh() {
    var section = document.getElementById("progress");
    if (section && window.htmx) window.htmx.trigger(section, "easel:refresh");
  }

  function livePoll() {
    if (live.source) { live.source.close(); live.source = null; }
    if (!live.timer) live.timer = setInterval(progressRefresh, 1000);
  }

  function previewType(b64) {
    if (b64.indexOf("/9j/") === 0) return "image/jpeg";
    if (b64.indexOf("UklGR") === 0) return "image/webp";
    return "image/png";
  }

  function showPreview(section, state) {
    var partial = state.partial_image;
    var b64 = partial && partial.b64_json;
    if (typeof b64 !== "string" || !b64) return;
    var index = 0;  // the worker previews a job's first image
    var tile = section.querySelector('[data-tile-index="' + index + '"]');
    if (!tile) return;
    var img = tile.querySelector("img[data-preview]");
    if (!img) {
      img = document.createElement("img");
      img.setAttribute("data-preview", "");
      img.setAttribute("data-testid", "tile-preview");
      img.alt = "Preview of image " + (index + 1) + ", still being made";
      tile.insertBefore(img, tile.firstChild);
    }
    img.src = "data:" + previewType(b64) + ";base64," + b64;
  }

  function onProgress(event) {
    var section = document.getElementById("progress");
    var state;
    try { state = JSON.parse(event.data); } catch (e) { return; }
    if (!section || !state) return;
    if (state.status !== section.getAttribute("data-status")) { progressRefresh(); return; }
    var total = state.total || 0;
    var text = section.querySelector("[data-step-text]");
    if (text && total) text.textContent = "Step " + state.step + " of " + total;
    var bar = section.querySelector("progress");
    if (bar && total) { bar.max = total; bar.value = state.step; }
    showPreview(section, state);
  }

  function initProgress(root) {
    var section = (root && root.id === "progress") ? root : (root || document).querySelector("#progress");
    if (!section) return;
    var url = section.getAttribute("data-events");
    if (!url) { liveStop(); return; }  // final: nothing more will come
    if (live.url === url) return;  // the stream (or the polling) already runs
    liveStop();
    live.url = url;
    if (!window.EventSource) { livePoll(); return; }
    var source = new EventSource(url);
    live.source = source;
    source.addEventListener("progress", onProgress);
    source.onerror = function () {
      // The stream ended (timeout, proxy) or never opened (refused): fetch the fragment, which
      // says whether the job is final, and keep it fresh by polling from here on.
      if (live.source !== source) return;
      progressRefresh();
      livePoll();
    };
  }

  /* Console shortcuts: a key clicks (or focuses) the element that declares it, unless the
     reviewer is typing in a field. */
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) return;
    var target = document.querySelector('[data-shortcut="' + event.key + '"]');
    if (!target) return;
    event.preventDefault();
    if (target.matches("input[type=radio], input[type=checkbox]")) {
      target.checked = true;
      target.dispatchEvent(new Event("change", { bubbles: true }));
      // Choosing the resolution is the last key: the reviewer types the reason next.
      var reason = document.querySelector("[data-reason]");
      if (reason && target.type === "radio") reason.focus();
    } else if (target.matches("input, textarea, select")) {
      target.focus();
    } else {
      target.click();
    }
  });

  function init(root) {
    initCounters(root);
    initCost(root);
    initFormat(root);
    initMaskEditor(root);
    initProgress(root);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  // A fragment swapped in by htmx: its progress section may have become final.
  document.addEventListener("htmx:load", function (event) {
    var root = event.detail && event.detail.elt;
    if (root && root.id === "progress") initProgress(root);
  });
})();
