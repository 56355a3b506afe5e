// The preference page's forms, submitted in place: the page the form's redirect leads to
// replaces this one's <main>, and the address bar follows. Without this script the same
// forms post and redirect as plain HTML forms.
(() => {
  const swap = async (form, body) => {
    // Not `form.action`: each form has a field named `action`, which that name returns.
    const res = await fetch(form.getAttribute("action"), {
      method: "POST",
      body,
      headers: { Accept: "text/html" },
      credentials: "same-origin",
    });
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const main = doc.querySelector("main");
    if (!main) throw new Error("no page in the answer");
    document.querySelector("main").replaceWith(main);
    document.title = doc.title;
    document.documentElement.lang = doc.documentElement.lang;
    history.replaceState(null, "", res.url);
    const focus = main.querySelector("[role=status][tabindex], #page-error") || main.querySelector("h1");
    if (focus) {
      if (!focus.hasAttribute("tabindex")) focus.setAttribute("tabindex", "-1");
      focus.focus();
    }
  };
  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.closest("main")) return;
    ev.preventDefault();
    const submitter = ev.submitter;
    const body = new URLSearchParams(new FormData(form, submitter));
    if (submitter) submitter.disabled = true;
    swap(form, body).catch(() => {
      // Fall back to the plain POST, the pressed button's value included.
      if (submitter && submitter.name) {
        const keep = document.createElement("input");
        keep.type = "hidden";
        keep.name = submitter.name;
        keep.value = submitter.value;
        form.append(keep);
      }
      form.submit();
    });
  });
  document.body.dataset.hydrated = "true";
})();
