/* mnistlib live demo: draw a digit, LeNet-5 and CustomMLP answer in the browser, offline.
 *
 * Everything runs here, in plain JavaScript: no network, no runtime. mnistreport/demo.py embeds the trained
 * weights (base64 float32, little-endian) and a tiny program per model (conv, relu, pool, linear), and calls
 * mnistlibDemo.mount(root, spec) once per demo on the page. The library itself is defined once per page.
 */
(function () {
  'use strict';
  if (window.mnistlibDemo) { return; }

  const MEAN = 0.1307, STD = 0.3081;  // MNIST's normalisation, as in training
  const SIDE = 28, BOX = 20;          // MNIST digits: fitted into 20x20, placed in 28x28 by centre of mass
  const CANVAS = 280;                 // drawing resolution (CSS may show it larger or smaller)
  const INK = 16;                     // a canvas pixel darker than this (of 255) is not ink
  const MIN_SIZE = 0.15 * CANVAS;     // ink whose box is smaller (two brush widths) is a dot, not a digit

  // ------------------------------------------------------------------------------------------ weights
  function decodeFloats(base64) {
    const bytes = atob(base64);
    const view = new DataView(new ArrayBuffer(bytes.length));
    for (let i = 0; i < bytes.length; i++) { view.setUint8(i, bytes.charCodeAt(i)); }
    const out = new Float32Array(bytes.length / 4);
    for (let i = 0; i < out.length; i++) { out[i] = view.getFloat32(4 * i, true); }
    return out;
  }

  // Replace each op's [offset, length] by the Float32Array it names.
  function bindProgram(program, floats) {
    return program.map((op) => {
      const bound = Object.assign({}, op);
      if (op.w) { bound.w = floats.subarray(op.w[0], op.w[0] + op.w[1]); }
      if (op.b) { bound.b = floats.subarray(op.b[0], op.b[0] + op.b[1]); }
      return bound;
    });
  }

  // ------------------------------------------------------------------------------------------ layers
  // A tensor is {data: Float64Array, c, h, w} in PyTorch's NCHW order (batch of one); a vector has h = w = 1.
  function conv(x, op) {
    const [outC, inC, k] = op.shape, pad = op.pad || 0;
    const h = x.h + 2 * pad - k + 1, w = x.w + 2 * pad - k + 1;
    const out = new Float64Array(outC * h * w);
    for (let o = 0; o < outC; o++) {
      for (let oy = 0; oy < h; oy++) {
        for (let ox = 0; ox < w; ox++) {
          let sum = op.b[o];
          for (let c = 0; c < inC; c++) {
            for (let ky = 0; ky < k; ky++) {
              const iy = oy + ky - pad;
              if (iy < 0 || iy >= x.h) { continue; }
              for (let kx = 0; kx < k; kx++) {
                const ix = ox + kx - pad;
                if (ix < 0 || ix >= x.w) { continue; }
                sum += op.w[((o * inC + c) * k + ky) * k + kx] * x.data[(c * x.h + iy) * x.w + ix];
              }
            }
          }
          out[(o * h + oy) * w + ox] = sum;
        }
      }
    }
    return { data: out, c: outC, h: h, w: w };
  }

  function relu(x) {
    return { data: x.data.map((v) => (v > 0 ? v : 0)), c: x.c, h: x.h, w: x.w };
  }

  function pool(x) {  // max pool 2x2, stride 2
    const h = Math.floor(x.h / 2), w = Math.floor(x.w / 2);
    const out = new Float64Array(x.c * h * w);
    for (let c = 0; c < x.c; c++) {
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          const at = (c * x.h + 2 * y) * x.w + 2 * xx;
          out[(c * h + y) * w + xx] = Math.max(x.data[at], x.data[at + 1], x.data[at + x.w], x.data[at + x.w + 1]);
        }
      }
    }
    return { data: out, c: x.c, h: h, w: w };
  }

  function linear(x, op) {  // flattens first, in NCHW order like torch's flatten
    const [outF, inF] = op.shape;
    const out = new Float64Array(outF);
    for (let o = 0; o < outF; o++) {
      let sum = op.b[o];
      for (let i = 0; i < inF; i++) { sum += op.w[o * inF + i] * x.data[i]; }
      out[o] = sum;
    }
    return { data: out, c: outF, h: 1, w: 1 };
  }

  function softmax(logits) {
    const top = Math.max.apply(null, logits);
    const e = Array.from(logits, (v) => Math.exp(v - top));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / total);
  }

  const LAYERS = { conv: conv, relu: relu, pool: pool, linear: linear };

  // Run a program on 28x28 pixels (0-255); returns the probabilities and the tensors marked `keep`.
  function forward(program, pixels) {
    let x = { data: Float64Array.from(pixels, (v) => (v / 255 - MEAN) / STD), c: 1, h: SIDE, w: SIDE };
    const kept = {};
    for (const op of program) {
      x = LAYERS[op.op](x, op);
      if (op.keep) { kept[op.keep] = x; }
    }
    return { probs: softmax(x.data), kept: kept };
  }

  // ------------------------------------------------------------------------------------ preprocessing
  // Weights that average source cells [j*n/m, (j+1)*n/m) into target cell j (area resampling): m x n.
  function areaWeights(n, m) {
    const rows = [];
    for (let j = 0; j < m; j++) {
      const a = (j * n) / m, b = ((j + 1) * n) / m, row = new Float64Array(n);
      for (let i = Math.floor(a); i < Math.min(n, Math.ceil(b)); i++) {
        row[i] = ((Math.min(b, i + 1) - Math.max(a, i)) * m) / n;
      }
      rows.push(row);
    }
    return rows;
  }

  // MNIST's own recipe on a grey image (0-255, w x h): crop to the ink, fit into 20x20 keeping the aspect
  // ratio, place in 28x28 so the centre of mass is at the centre. Returns null when there is no digit to see.
  function preprocess(ink, w, h) {
    let x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (ink[y * w + x] > INK) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
      }
    }
    const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    if (x1 < 0 || Math.max(bw, bh) < (MIN_SIZE * Math.max(w, h)) / CANVAS) { return null; }
    const scale = BOX / Math.max(bw, bh);
    const dw = Math.max(1, Math.round(bw * scale)), dh = Math.max(1, Math.round(bh * scale));
    const ax = areaWeights(bw, dw), ay = areaWeights(bh, dh);
    const rows = [];  // each cropped row resampled to dw columns
    for (let y = 0; y < bh; y++) {
      const row = new Float64Array(dw);
      for (let j = 0; j < dw; j++) {
        let s = 0;
        for (let x = 0; x < bw; x++) { if (ax[j][x]) { s += ax[j][x] * ink[(y0 + y) * w + x0 + x]; } }
        row[j] = s;
      }
      rows.push(row);
    }
    const small = new Float64Array(dh * dw);
    let mass = 0, mx = 0, my = 0;
    for (let i = 0; i < dh; i++) {
      for (let j = 0; j < dw; j++) {
        let s = 0;
        for (let y = 0; y < bh; y++) { if (ay[i][y]) { s += ay[i][y] * rows[y][j]; } }
        small[i * dw + j] = s;
        mass += s; mx += s * j; my += s * i;
      }
    }
    // Shift so the centre of mass (in pixel indices) lands within half a pixel of 14, where MNIST has it:
    // every MNIST digit's centre of mass lies in [13.5, 14.5] on both axes.
    const ox = Math.round(SIDE / 2 - mx / mass), oy = Math.round(SIDE / 2 - my / mass);
    const out = new Float64Array(SIDE * SIDE);
    for (let i = 0; i < dh; i++) {
      for (let j = 0; j < dw; j++) {
        const y = oy + i, x = ox + j;
        if (y >= 0 && y < SIDE && x >= 0 && x < SIDE) { out[y * SIDE + x] = small[i * dw + j]; }
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------ drawing
  function paintGrey(canvas, values, w, h, top) {  // 0 black .. top white, as MNIST shows ink
    const ctx = canvas.getContext('2d'), img = ctx.createImageData(w, h);
    for (let i = 0; i < w * h; i++) {
      const v = Math.round(255 * Math.min(1, Math.max(0, values[i] / top)));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function mount(root, spec) {
    const floats = decodeFloats(spec.weights);
    const models = spec.models.map((m) => ({ key: m.key, program: bindProgram(m.program, floats) }));
    const pad = root.querySelector('.mnist-demo-pad');
    const ctx = pad.getContext('2d', { willReadFrequently: true });
    const seen = root.querySelector('.mnist-demo-seen');
    const maps = Array.from(root.querySelectorAll('.mnist-demo-map'));
    const status = root.querySelector('.mnist-demo-status');
    const state = { result: null, pixels: null, updates: 0 };
    let strokeId = null, last = null, pending = false;

    function blank() {
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, CANVAS, CANVAS);
    }

    // Run both models on 28x28 pixels (0-255) and show everything; null pixels show "draw a digit".
    function show(pixels) {
      state.updates += 1;
      state.pixels = pixels;
      state.result = pixels ? classify(pixels) : null;
      root.classList.toggle('mnist-demo-empty', !pixels);
      status.textContent = pixels ? '' : 'draw a digit';
      paintGrey(seen, pixels || new Float64Array(SIDE * SIDE), SIDE, SIDE, 255);
      const c1 = state.result && state.result.lenet5 && state.result.lenet5.kept.c1;
      maps.forEach((canvas, k) => {  // each map on its own scale, brightest = its strongest response
        const values = c1 ? c1.data.subarray(k * c1.h * c1.w, (k + 1) * c1.h * c1.w) : new Float64Array(SIDE * SIDE);
        paintGrey(canvas, values, SIDE, SIDE, Math.max(1e-6, Math.max.apply(null, values)));
      });
      for (const card of root.querySelectorAll('.mnist-demo-model')) {
        const answer = state.result && state.result[card.dataset.model];
        const probs = answer ? answer.probs : new Array(10).fill(0);
        const best = answer ? answer.digit : -1;
        card.querySelector('.mnist-demo-digit').textContent = answer ? String(best) : '?';
        card.querySelector('.mnist-demo-conf').textContent = answer ? (100 * probs[best]).toFixed(1) + '%' : '';
        card.querySelectorAll('.mnist-demo-bar').forEach((bar, d) => {
          bar.style.height = (100 * probs[d]).toFixed(2) + '%';
          bar.classList.toggle('mnist-demo-best', d === best);
          bar.parentNode.title = d + ': ' + (100 * probs[d]).toFixed(2) + '%';
        });
      }
    }

    function classify(pixels) {
      const out = {};
      for (const m of models) {
        const r = forward(m.program, pixels);
        let digit = 0;
        r.probs.forEach((p, d) => { if (p > r.probs[digit]) { digit = d; } });
        out[m.key] = { probs: r.probs, digit: digit, kept: r.kept };
      }
      return out;
    }

    function update() {
      pending = false;
      const rgba = ctx.getImageData(0, 0, CANVAS, CANVAS).data;
      const ink = new Float64Array(CANVAS * CANVAS);
      for (let i = 0; i < ink.length; i++) { ink[i] = rgba[4 * i]; }  // white ink on black: the red channel
      show(preprocess(ink, CANVAS, CANVAS));
    }

    function schedule() {  // at most one update per frame while drawing
      if (!pending) { pending = true; requestAnimationFrame(update); }
    }

    // Canvas coordinates of a pointer; the bounding box includes any CSS scaling (reveal.js scales slides).
    function at(e) {
      const r = pad.getBoundingClientRect();
      return [((e.clientX - r.left) * CANVAS) / r.width, ((e.clientY - r.top) * CANVAS) / r.height];
    }

    function segment(a, b) {
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = CANVAS / 13;  // about MNIST's stroke width once the digit is fitted into 20x20
      ctx.lineCap = ctx.lineJoin = 'round';
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
    }

    pad.addEventListener('pointerdown', (e) => {
      if (strokeId !== null || (e.pointerType === 'mouse' && e.button !== 0)) { return; }
      strokeId = e.pointerId;
      if (pad.setPointerCapture) { try { pad.setPointerCapture(e.pointerId); } catch (err) { /* synthetic */ } }
      last = at(e);
      segment(last, last);
      schedule();
      e.preventDefault();
    });
    pad.addEventListener('pointermove', (e) => {
      if (e.pointerId !== strokeId) { return; }
      const p = at(e);
      segment(last, p);
      last = p;
      schedule();
      e.preventDefault();
    });
    const end = (e) => {
      if (e.pointerId !== strokeId) { return; }
      strokeId = null;
      update();
    };
    pad.addEventListener('pointerup', end);
    pad.addEventListener('pointercancel', end);
    // Drawing must neither scroll the page nor turn a reveal.js slide (it also honours data-prevent-swipe).
    for (const type of ['pointerdown', 'pointermove', 'pointerup', 'pointercancel', 'mousedown', 'mousemove',
      'mouseup', 'touchstart', 'touchmove', 'touchend', 'touchcancel']) {
      pad.addEventListener(type, (e) => {
        e.stopPropagation();
        if (type.startsWith('touch') && e.cancelable) { e.preventDefault(); }
      }, { passive: false });
    }

    const clear = root.querySelector('.mnist-demo-clear');
    clear.addEventListener('click', () => {
      blank();
      show(null);
      clear.blur();  // so Space and the arrow keys go back to the slides
    });

    blank();
    show(null);
    // The page's JavaScript path, for tests and the console: preprocess, classify, show.
    root.mnistDemo = { state: state, preprocess: preprocess, classify: classify, show: show, update: update };
    return root.mnistDemo;
  }

  window.mnistlibDemo = { mount: mount, preprocess: preprocess, forward: forward };
})();
