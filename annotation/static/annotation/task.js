// The annotator's task page: instructions, a practice of the keys, then one image at a time until the end.
//
// The server holds all state (the current image, the exposure, the stage); this script asks for it, shows it,
// and posts answers. A reload therefore resumes at the same image. The script never learns whether an image is
// real before its answer is stored; with feedback, the answer's response says so afterwards.
//
// <body data-state> tells tests (and styles) where the page is: intro, practice, loading, showing, ready,
// saving, feedback, pause, finish, error.
(() => {
  "use strict";

  const config = JSON.parse(document.getElementById("task-config").textContent);
  const $ = (id) => document.getElementById(id);
  const screens = ["intro", "trial", "pause", "finish", "error"];
  const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  let onAnswer = null; // what an answer (true: real; and the event's time) does now; null while not accepted
  let onContinue = null; // what Space/Enter or a Continue button does now
  let lastPhase = null;
  let lastBlock = null;

  function mark(state) {
    document.body.dataset.state = state;
  }

  function show(name) {
    for (const screen of screens) $(screen).hidden = screen !== name;
  }

  function fail(error) {
    onAnswer = onContinue = null;
    $("error-text").textContent = error.message || String(error);
    show("error");
    mark("error");
  }

  async function api(url, body) {
    const init = { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(url, init);
      if (response.status === 429 && attempt < 5) {
        await sleep(1000 * Number(response.headers.get("Retry-After") || 1));
        continue;
      }
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
      return data;
    }
  }

  function waitContinue() {
    return new Promise((resolve) => {
      onContinue = () => {
        onContinue = null;
        resolve();
      };
    });
  }

  // Resolves with { real, at }: the answer and the moment of its key press or tap (performance.now()'s clock).
  function waitAnswer() {
    setAnswering(true);
    return new Promise((resolve) => {
      onAnswer = (real, at) => {
        onAnswer = null;
        setAnswering(false);
        resolve({ real, at });
      };
    });
  }

  function setAnswering(on) {
    $("answer-real").disabled = !on;
    $("answer-generated").disabled = !on;
  }

  function setProgress(state) {
    const label = state.phase === "qualification" ? "Qualification" : state.blocks > 1 ? "Block" : "Progress";
    const block = state.blocks > 1 && state.item ? ` ${state.item.block + 1} of ${state.blocks}` : "";
    $("phase-label").textContent = label + block;
    $("progress").max = Math.max(state.total, 1);
    $("progress").value = state.done;
    $("progress-text").textContent = `${state.done} / ${state.total}`;
  }

  function clearFrame() {
    for (const child of [...$("frame").children]) {
      if (child.id !== "countdown" && child.id !== "mask") child.remove();
    }
  }

  function drawNoise() {
    const canvas = $("mask");
    const context = canvas.getContext("2d");
    const pixels = context.createImageData(canvas.width, canvas.height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      const v = Math.floor(Math.random() * 256);
      pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = v;
      pixels.data[i + 3] = 255;
    }
    context.putImageData(pixels, 0, 0);
  }

  function placeholder() {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 64;
    const context = canvas.getContext("2d");
    context.fillStyle = "#888";
    context.fillRect(0, 0, 64, 64);
    context.fillStyle = "#fff";
    context.font = "32px sans-serif";
    context.textAlign = "center";
    context.fillText("?", 32, 43);
    canvas.className = "stimulus";
    return canvas;
  }

  async function loadImage(src) {
    const img = new Image();
    img.className = "stimulus";
    img.alt = "";
    img.decoding = "sync";
    img.src = src;
    await img.decode();
    return img;
  }

  // Puts the stimulus on screen and resolves with the moment it appeared. Timed: a 3-2-1 countdown, the
  // stimulus for exposureMs, then the noise masks; the answer buttons open once the last mask is gone.
  async function present(element, exposureMs) {
    clearFrame();
    if (exposureMs) {
      const countdown = $("countdown");
      countdown.hidden = false;
      for (const n of ["3", "2", "1"]) {
        countdown.textContent = n;
        await sleep(config.countdownMs);
      }
      countdown.hidden = true;
    }
    $("frame").append(element);
    await nextFrame();
    const onset = performance.now();
    if (exposureMs) {
      await sleep(Math.max(0, exposureMs - (performance.now() - onset)));
      element.remove();
      const mask = $("mask");
      mask.hidden = false;
      for (let i = 0; i < config.masks; i++) {
        drawNoise();
        await sleep(config.maskMs);
      }
      mask.hidden = true;
    }
    return onset;
  }

  async function practice() {
    show("trial");
    mark("practice");
    const banner = $("banner");
    banner.hidden = false;
    const steps = [
      ["Practice: press F (or tap Real) to answer “real”.", true],
      ["Now press J (or tap Generated) to answer “generated”.", false],
    ];
    for (const [text, want] of steps) {
      banner.textContent = text;
      await present(placeholder(), null);
      while ((await waitAnswer()).real !== want) banner.textContent = `Not that one. ${text}`;
    }
    if (config.timed) {
      banner.textContent = "Now with the timing of the study: watch, then answer with F or J.";
      await present(placeholder(), 500);
      await waitAnswer();
    }
    banner.hidden = true;
    clearFrame();
    await pause("Practice done", "The study starts now. Answer as well as you can; take your time unless the image is timed.");
  }

  async function pause(title, text) {
    $("pause-title").textContent = title;
    $("pause-text").textContent = text;
    show("pause");
    mark("pause");
    await waitContinue();
  }

  async function feedback(result) {
    const line = $("feedback");
    line.textContent = result.correct
      ? `Correct: this image was ${result.truth}.`
      : `Wrong: this image was ${result.truth}.`;
    line.className = `feedback ${result.correct ? "right" : "wrong"}`;
    line.hidden = false;
    mark("feedback");
    await sleep(config.feedbackMs);
    line.hidden = true;
  }

  async function trial(state) {
    show("trial");
    mark("loading");
    setProgress(state);
    const img = await loadImage(state.item.src);
    mark("showing");
    const onset = await present(img, state.item.exposure_ms);
    mark("ready");
    const { real, at } = await waitAnswer();
    const responseMs = Math.max(0, Math.round(at - onset));
    mark("saving");
    const result = await api(config.answerUrl, {
      item: state.item.token,
      answer: real ? "real" : "generated",
      response_ms: responseMs,
    });
    // Feedback is shown beside the image when the protocol left it on screen: what the annotator learns from.
    if (result.feedback) await feedback(result.feedback);
    clearFrame();
    return result.state;
  }

  async function finish() {
    show("finish");
    mark("finish");
    const done = await api(config.finishUrl, {});
    const text = done.disqualified
      ? "Your answers in the qualification did not reach the level this study needs, so it ends here. You are paid as the platform's rules say."
      : "All your answers are saved.";
    if (done.kind === "mturk") {
      $("finish-text").textContent = `${text} Submitting your work to Mechanical Turk…`;
      const form = $("submit-form");
      form.action = done.url;
      for (const [name, value] of Object.entries(done.fields)) {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = value;
        form.append(input);
      }
      form.submit();
    } else if (done.kind === "prolific") {
      $("finish-text").textContent = `${text} Returning you to Prolific…`;
      const link = $("finish-link");
      link.href = done.url;
      link.hidden = false;
      window.location.assign(done.url);
    } else {
      $("finish-text").textContent = `${text} Your completion code:`;
      $("finish-code").textContent = done.code;
      $("finish-code").hidden = false;
    }
  }

  async function run() {
    let state = await api(config.stateUrl);
    if (state.answered === 0 && state.item) {
      show("intro");
      mark("intro");
      await waitContinue();
      await practice();
    }
    while (state.item) {
      if (lastPhase === "qualification" && state.phase === "test") {
        await pause("Qualification passed", "Well done. The study itself starts now.");
      } else if (lastBlock !== null && state.phase === lastPhase && state.item.block !== lastBlock) {
        await pause(`Block ${lastBlock + 1} of ${state.blocks} done`, "Take a short break, then continue.");
      }
      lastPhase = state.phase;
      lastBlock = state.item.block;
      state = await trial(state);
    }
    await finish();
  }

  document.addEventListener("keydown", (event) => {
    if (event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (onAnswer && (key === "f" || key === "j")) {
      event.preventDefault();
      onAnswer(key === "f", event.timeStamp);
    } else if (onContinue && (key === " " || key === "enter")) {
      event.preventDefault();
      onContinue();
    }
  });
  $("answer-real").addEventListener("click", (event) => onAnswer && onAnswer(true, event.timeStamp));
  $("answer-generated").addEventListener("click", (event) => onAnswer && onAnswer(false, event.timeStamp));
  for (const button of document.querySelectorAll("[data-continue]")) {
    button.addEventListener("click", () => onContinue && onContinue());
  }
  for (const button of document.querySelectorAll("[data-reload]")) {
    button.addEventListener("click", () => window.location.reload());
  }

  run().catch(fail);
})();
