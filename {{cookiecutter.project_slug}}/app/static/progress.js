// The progress page: each submit starts a task (POST to the form's
// data-tasks-url) and adds a row whose <progress> follows the task by polling
// its status URL until the task reaches a final state. Polling starts fast
// and backs off while nothing changes; a queued task (no numbers yet) and a
// task queue that is down for a while (503) keep being polled. On load, the
// rows of this browser's earlier tasks come back from GET on the same URL.
"use strict";

const FINAL_STATES = new Set(["SUCCESS", "FAILURE", "REVOKED"]);
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 2000;
const BACK_OFF = 1.5;

const form = document.getElementById("task-form");
const formError = document.getElementById("form-error");
const list = document.getElementById("tasks");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError.hidden = true;
  const body = {
    total: Number(form.elements.total.value),
    delay: Number(form.elements.delay.value),
  };
  try {
    const answer = await requestJSON(form.dataset.tasksUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    follow(addRow(answer));
  } catch (error) {
    formError.textContent = `Could not start a task: ${error.message}`;
    formError.hidden = false;
  }
});

// Rebuilds the rows of the tasks this browser started (its session cookie),
// oldest first so that the newest ends on top, and follows the unfinished.
async function restoreRows() {
  try {
    const { tasks } = await requestJSON(form.dataset.tasksUrl);
    for (const answer of tasks.reverse()) {
      const task = addRow(answer);
      if (!FINAL_STATES.has(answer.state)) follow(task);
    }
  } catch (error) {
    formError.textContent = `Could not list earlier tasks: ${error.message}`;
    formError.hidden = false;
  }
}

// Adds the row of a task and returns its parts.
function addRow({ id, state, current = null, total = null, status_url: statusUrl }) {
  const shortId = id.slice(0, 8);
  const row = document.createElement("li");
  row.className = "task";
  row.dataset.taskId = id;

  const label = document.createElement("span");
  label.className = "task-id";
  label.textContent = `Task ${shortId}`;
  label.title = id;

  // No value yet: the bar is indeterminate until the task reports numbers.
  const bar = document.createElement("progress");
  bar.setAttribute("aria-label", `Progress of task ${shortId}`);

  const status = document.createElement("span");
  status.className = "task-status";
  status.setAttribute("aria-live", "polite");

  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "task-cancel";
  cancel.textContent = "Cancel";
  cancel.setAttribute("aria-label", `Cancel task ${shortId}`);

  row.append(label, bar, status, cancel);
  list.prepend(row);
  const task = { row, bar, status, cancel, statusUrl, delay: FIRST_DELAY_MS, wake: null };
  cancel.addEventListener("click", () => requestCancel(task));
  show(task, { state: state || "PENDING", current, total });
  return task;
}

// Polls the task until it reaches a final state or is unknown (404).
async function follow(task) {
  let last = "";
  for (;;) {
    try {
      const answer = await requestJSON(task.statusUrl);
      show(task, answer);
      if (FINAL_STATES.has(answer.state)) return;
      const now = `${answer.state}:${answer.current}`;
      task.delay = now === last ? backOff(task.delay) : FIRST_DELAY_MS;
      last = now;
    } catch (error) {
      if (error.status === 404) {
        // Its result expired (a day after it was started): nothing to follow.
        task.status.textContent = "No longer known: its result has expired";
        return finish(task);
      }
      // A network error or 5xx (503: task queue down) may pass: keep trying.
      task.status.textContent = `Error: ${error.message}`;
      task.delay = backOff(task.delay);
    }
    await pause(task);
  }
}

// Shows a status answer: bar, state attributes and a line of text.
function show(task, { state, current, total, error }) {
  const { row, bar, status } = task;
  row.dataset.state = state;
  bar.dataset.state = state;
  if (Number.isInteger(total)) {
    bar.max = total;
    bar.value = current ?? 0;
  }
  if (state === "SUCCESS") bar.value = bar.max;
  // A cancelled or failed task reports no numbers: keep the last ones seen.
  const numbers = bar.hasAttribute("value") ? ` ${bar.value}/${bar.max}` : "";
  status.textContent = error ? `${state}: ${error}` : `${state}${numbers}`;
  if (FINAL_STATES.has(state)) finish(task);
}

// Polling is over: nothing to cancel, and a bar still without a value must
// stop its indeterminate "still working" animation.
function finish(task) {
  task.cancel.disabled = true;
  if (!task.bar.hasAttribute("value")) task.bar.value = 0;
}

// Asks the server to stop the task; polling shows when it is REVOKED.
async function requestCancel(task) {
  task.cancel.disabled = true;
  try {
    await requestJSON(task.statusUrl, { method: "DELETE" });
    task.status.textContent = "Cancelling…";
    task.delay = FIRST_DELAY_MS;
    if (task.wake) task.wake();
  } catch (error) {
    task.status.textContent = `Could not cancel: ${error.message}`;
    task.cancel.disabled = FINAL_STATES.has(task.row.dataset.state);
  }
}

function backOff(delay) {
  return Math.min(delay * BACK_OFF, MAX_DELAY_MS);
}

// Waits task.delay ms; task.wake() ends the wait early (after a cancel).
function pause(task) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, task.delay);
    task.wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

// fetch() that returns the JSON body, or throws an Error carrying the
// answer's status and its {"error": ...} message.
async function requestJSON(url, options = {}) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

restoreRows();
