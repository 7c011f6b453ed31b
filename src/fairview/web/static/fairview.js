// fairview's pages work without this file; it only adds conveniences.
// Forms with data-confirm ask before they submit (the server asks again for
// anything irreversible, so this is a shortcut, not the safeguard).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});
