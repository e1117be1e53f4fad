// Copy buttons: <button data-copy="ID"> copies the value of the element #ID and says so in
// #copied (a status region). Without the clipboard API the text is selected to copy by hand.
(function () {
  "use strict";
  document.addEventListener("click", async function (event) {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const field = document.getElementById(button.dataset.copy);
    if (!field) return;
    const status = document.getElementById("copied");
    try {
      await navigator.clipboard.writeText(field.value);
      if (status) status.textContent = status.dataset.copied || "";
    } catch (error) {
      field.focus();
      field.select();
    }
  });
})();
