// The /verify page: a file dropped anywhere on the drop zone, or chosen, is checked at once.
// Without JavaScript the form works as it is (choose a file, press the button).
(function () {
  const form = document.querySelector("[data-verify-form]");
  if (!form) return;
  const zone = form.querySelector("[data-drop-zone]");
  const input = form.querySelector("input[type=file]");
  const submit = () => (form.requestSubmit ? form.requestSubmit() : form.submit());
  ["dragenter", "dragover"].forEach((name) =>
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("is-dragging");
    })
  );
  ["dragleave", "drop"].forEach((name) =>
    zone.addEventListener(name, () => zone.classList.remove("is-dragging"))
  );
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    submit();
  });
  input.addEventListener("change", () => {
    if (input.files.length) submit();
  });
})();
