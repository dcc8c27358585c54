// Handrail console: the only script. Pages work without it; with it, an open incident's page refreshes
// its live parts when anything changes (polling a cheap version token) and buttons post without
// leaving the page. No libraries, nothing from the internet.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const flash = (text) => {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
  };

  async function refresh(root) {
    const answer = await fetch(window.location.pathname, { headers: { Accept: "text/html" }, cache: "no-store" });
    if (!answer.ok) return;
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").getElementById("incident");
    if (!fresh) return;
    const seen = new Set([...root.querySelectorAll("#timeline li[data-event]")].map((li) => li.dataset.event));
    const drafts = {};
    root.querySelectorAll("textarea[id]").forEach((t) => { drafts[t.id] = t.value; });
    fresh.querySelectorAll("[data-region]").forEach((region) => {
      const old = root.querySelector(`[data-region="${region.dataset.region}"]`);
      if (old && old.innerHTML !== region.innerHTML) old.replaceWith(region);
    });
    root.querySelectorAll("textarea[id]").forEach((t) => { if (drafts[t.id]) t.value = drafts[t.id]; });
    root.querySelectorAll("#timeline li[data-event]").forEach((li) => {
      if (!seen.has(li.dataset.event)) li.classList.add("new");
    });
    root.dataset.version = fresh.dataset.version;
    if (!("live" in fresh.dataset)) delete root.dataset.live;
    const timeline = document.getElementById("timeline");
    if (timeline) timeline.scrollTop = timeline.scrollHeight;
  }

  function watch(root) {
    const indicator = root.querySelector(".live-indicator");
    if (indicator) indicator.hidden = false;
    const tick = async () => {
      try {
        const answer = await fetch(`/incidents/${root.dataset.incident}/version`, { cache: "no-store" });
        if (answer.ok) {
          const { version } = await answer.json();
          if (version !== root.dataset.version) await refresh(root);
        }
      } catch (_) { /* the server is restarting: try again at the next tick */ }
      if ("live" in root.dataset) setTimeout(tick, 1500);
      else if (indicator) indicator.hidden = true;
    };
    setTimeout(tick, 1500);
  }

  // Buttons and small forms post in the background; the page then refreshes its live parts.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-inline")) return;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
    const root = document.getElementById("incident");
    if (!root) return;
    event.preventDefault();
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const answer = await fetch(form.action, {
        method: "POST", body: new FormData(form), headers: { "X-CSRF-Token": csrf() }, redirect: "follow",
      });
      if (!answer.ok) {
        const page = new DOMParser().parseFromString(await answer.text(), "text/html");
        flash(page.getElementById("error-message")?.textContent || `The server answered ${answer.status}.`);
      } else {
        flash("");
        form.reset();
        await refresh(root);
      }
    } catch (_) {
      flash("Could not reach Handrail; try again.");
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("incident");
    if (root) {
      document.body.dataset.script = "ready";
      if ("live" in root.dataset) watch(root);
    }
  });
})();
