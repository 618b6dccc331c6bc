// The progress page: each submit starts a task (POST /tasks) and adds a row
// whose <progress> follows the task by polling its status URL until the task
// reaches a final state. Polling starts fast and backs off while nothing
// changes; a queued task (no progress yet) keeps being polled.
"use strict";

const FINAL_STATES = new Set(["SUCCESS", "FAILURE", "REVOKED"]);
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 2000;

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
    follow(addRow(answer.id, answer.status_url));
  } catch (error) {
    formError.textContent = `Could not start a task: ${error.message}`;
    formError.hidden = false;
  }
});

// Adds the row of a new task and returns its parts.
function addRow(taskId, statusUrl) {
  const row = document.createElement("li");
  row.className = "task";
  row.dataset.taskId = taskId;

  const label = document.createElement("span");
  label.className = "task-id";
  label.textContent = `Task ${taskId.slice(0, 8)}`;

  const bar = document.createElement("progress");
  bar.setAttribute("aria-label", `Progress of task ${taskId.slice(0, 8)}`);

  const status = document.createElement("span");
  status.className = "task-status";
  status.setAttribute("aria-live", "polite");

  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = "Cancel";
  cancel.addEventListener("click", () => requestCancel(task));

  row.append(label, bar, status, cancel);
  list.prepend(row);
  const task = { row, bar, status, cancel, statusUrl, delay: FIRST_DELAY_MS };
  show(task, { state: "PENDING", current: null, total: null });
  return task;
}

// Polls the task until it reaches a final state, backing off while idle.
async function follow(task) {
  let last = "";
  for (;;) {
    try {
      const answer = await requestJSON(task.statusUrl);
      show(task, answer);
      if (FINAL_STATES.has(answer.state)) return;
      const now = `${answer.state}:${answer.current}`;
      task.delay = now === last ? Math.min(task.delay * 1.5, MAX_DELAY_MS) : FIRST_DELAY_MS;
      last = now;
    } catch (error) {
      task.status.textContent = error.message;
      if (error.status === 404) return finish(task);
      task.delay = Math.min(task.delay * 2, MAX_DELAY_MS);
    }
    await sleep(task.delay);
  }
}

// Shows a status answer: bar, state attributes and a line of text.
function show(task, answer) {
  const { state, current, total, error } = answer;
  task.row.dataset.state = state;
  task.bar.dataset.state = state;
  if (Number.isInteger(total)) {
    task.bar.max = total;
    task.bar.value = state === "SUCCESS" ? total : current ?? 0;
  }
  const progress = Number.isInteger(total) ? ` ${current ?? 0}/${total}` : "";
  task.status.textContent = error ? `${state}: ${error}` : `${state}${progress}`;
  if (FINAL_STATES.has(state)) finish(task);
}

function finish(task) {
  task.cancel.disabled = true;
}

async function requestCancel(task) {
  task.cancel.disabled = true;
  try {
    await requestJSON(task.statusUrl, { method: "DELETE" });
    task.status.textContent = "Cancelling…";
    task.delay = FIRST_DELAY_MS;
  } catch (error) {
    task.status.textContent = `Could not cancel: ${error.message}`;
    task.cancel.disabled = false;
  }
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

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
