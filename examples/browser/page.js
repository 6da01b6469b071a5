// The page: starts a training worker (train_worker.js) per run, plots its losses live (SVG), and
// classifies what is drawn on the 280x280 pad after preprocessing it the way MNIST digits were made
// (crop to the ink, scale into a 20x20 box, centre by centre of mass in 28x28). `window.demo` is
// the same API the buttons use, for scripts (test/browser/e2e.test.ts drives it).
const $ = (id) => document.getElementById(id)
const pad = $('pad')
const ctx = pad.getContext('2d', { willReadFrequently: true })
const COLORS = ['#d0494a', '#4a7bd0', '#3a9a4a', '#c08a20', '#8a4ac0']
const runs = []
let worker
let trained = false
/** classify() requests waiting for the worker's answer, oldest first */
const predictions = []
/** rejects the running train() when another replaces it */
let abandonRun

function status(text) {
  $('status').textContent = text
}

// ---- loss plot ----------------------------------------------------------------------------------
function drawPlot() {
  const svg = $('plot')
  const W = 520
  const H = 300
  const L = 44
  const B = 24
  const maxStep = Math.max(1, ...runs.map((r) => r.steps))
  const maxLoss = Math.max(0.5, ...runs.flatMap((r) => r.losses))
  const x = (s) => L + ((W - L - 8) * s) / maxStep
  const y = (v) => H - B - ((H - B - 8) * v) / maxLoss
  let g = `<line x1="${L}" y1="${H - B}" x2="${W - 8}" y2="${H - B}" stroke="#888"/>`
  g += `<line x1="${L}" y1="8" x2="${L}" y2="${H - B}" stroke="#888"/>`
  for (let i = 0; i <= 4; i++) {
    const v = (maxLoss * i) / 4
    g += `<text x="${L - 4}" y="${y(v) + 4}" font-size="11" text-anchor="end">${v.toFixed(1)}</text>`
  }
  g += `<text x="${W - 8}" y="${H - 6}" font-size="11" text-anchor="end">step ${maxStep}</text>`
  g += `<text x="${L + 4}" y="18" font-size="11">training loss</text>`
  for (const r of runs) {
    const pts = r.losses.map((v, i) => `${x(i + 1).toFixed(1)},${y(v).toFixed(1)}`).join(' ')
    g += `<polyline class="loss" fill="none" stroke="${r.color}" stroke-width="1.5" points="${pts}"/>`
  }
  svg.innerHTML = g
  $('legend').innerHTML = runs.map((r) => `<span style="color:${r.color}">&#9632; ${r.label}</span>`).join('')
}

// ---- training -----------------------------------------------------------------------------------
/** Train on a fresh worker; resolves to { device, threads, threadedLaunches, losses, stepMs (each step's time), accuracy, ms }. */
function train({ device = 'auto', steps = 300, batch = 128, lr = 2e-3, seed = 1 } = {}) {
  worker?.terminate()
  const replaced = new Error('a new training run started')
  for (const p of predictions.splice(0)) p.reject(replaced)
  abandonRun?.(replaced)
  worker = new Worker('/train_worker.js', { type: 'module' })
  trained = false
  const run = { label: device, steps, losses: [], stepMs: [], color: COLORS[runs.length % COLORS.length] }
  runs.push(run)
  return new Promise((resolve, reject) => {
    abandonRun = reject
    worker.onerror = (e) => reject(new Error(e.message ?? 'the training worker failed'))
    worker.onmessage = ({ data: m }) => {
      if (m.type === 'started') {
        run.device = m.device
        run.threads = m.threads
        run.label = m.device === 'WASM' ? `WASM (${m.threads} thread${m.threads > 1 ? 's' : ''})` : m.device
        status(`training on ${run.label}: loading MNIST…`)
      } else if (m.type === 'loss') {
        run.losses.push(m.loss)
        run.stepMs.push(m.stepMs)
        status(
          `training on ${run.label}: step ${m.step}/${steps}, loss ${m.loss.toFixed(3)}, ${m.ms.toFixed(0)} ms/step`,
        )
        drawPlot()
      } else if (m.type === 'trained') {
        trained = true
        abandonRun = undefined
        run.accuracy = m.accuracy
        status(
          `trained on ${run.label}: ${steps} steps in ${(m.ms / 1000).toFixed(1)} s, ` +
            `accuracy on 1000 test images ${(m.accuracy * 100).toFixed(1)}%. Draw a digit.`,
        )
        resolve({
          device: run.device,
          threads: run.threads,
          threadedLaunches: m.threadedLaunches,
          losses: run.losses,
          stepMs: run.stepMs,
          accuracy: m.accuracy,
          ms: m.ms,
        })
      } else if (m.type === 'prediction') {
        showPrediction(m)
        predictions.shift()?.resolve({ digit: m.digit, probs: m.probs })
      } else if (m.type === 'error') {
        status(`error: ${m.message}`)
        const waiting = predictions.shift()
        if (waiting) waiting.reject(new Error(m.message))
        else reject(new Error(m.message))
      }
    }
    worker.postMessage({ cmd: 'train', device, steps, batch, lr, seed })
  })
}

// ---- drawing and classifying --------------------------------------------------------------------
function clearPad() {
  ctx.fillStyle = '#000'
  ctx.fillRect(0, 0, pad.width, pad.height)
  $('digit').textContent = '?'
  $('probs').innerHTML = ''
}

let drawing = false
let last
pad.addEventListener('pointerdown', (e) => {
  drawing = true
  last = [e.offsetX, e.offsetY]
  pad.setPointerCapture(e.pointerId)
})
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return
  ctx.strokeStyle = '#fff'
  ctx.lineWidth = 20
  ctx.lineCap = 'round'
  ctx.beginPath()
  ctx.moveTo(...last)
  ctx.lineTo(e.offsetX, e.offsetY)
  ctx.stroke()
  last = [e.offsetX, e.offsetY]
})
pad.addEventListener('pointerup', () => {
  drawing = false
  if (trained) classify().catch((e) => status(`error: ${e.message}`))
})

/** The pad as an MNIST image: 784 values in [0, 1], or null when nothing is drawn. */
function padPixels() {
  const { data, width, height } = ctx.getImageData(0, 0, pad.width, pad.height)
  const ink = (x, y) => data[4 * (y * width + x)] / 255
  let x0 = width
  let y0 = height
  let x1 = -1
  let y1 = -1
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      if (ink(x, y) > 0.05) {
        x0 = Math.min(x0, x)
        x1 = Math.max(x1, x)
        y0 = Math.min(y0, y)
        y1 = Math.max(y1, y)
      }
  if (x1 < 0) return null
  // scale the ink's box into 20x20 (keeping its aspect), each pad pixel adding its share of area
  const bw = x1 - x0 + 1
  const bh = y1 - y0 + 1
  const s = 20 / Math.max(bw, bh)
  const ox = (28 - bw * s) / 2
  const oy = (28 - bh * s) / 2
  const img = new Float32Array(784)
  for (let y = y0; y <= y1; y++)
    for (let x = x0; x <= x1; x++) {
      const v = ink(x, y)
      if (v === 0) continue
      const tx = Math.min(27, Math.floor(ox + (x - x0 + 0.5) * s))
      const ty = Math.min(27, Math.floor(oy + (y - y0 + 0.5) * s))
      img[ty * 28 + tx] += v * s * s
    }
  // centre of mass to the centre, as MNIST did
  let m = 0
  let cx = 0
  let cy = 0
  for (let i = 0; i < 784; i++) {
    m += img[i]
    cx += img[i] * (i % 28)
    cy += img[i] * Math.floor(i / 28)
  }
  const dx = Math.round(13.5 - cx / m)
  const dy = Math.round(13.5 - cy / m)
  const out = new Float32Array(784)
  for (let y = 0; y < 28; y++)
    for (let x = 0; x < 28; x++) {
      const sx = x - dx
      const sy = y - dy
      if (sx >= 0 && sx < 28 && sy >= 0 && sy < 28) out[y * 28 + x] = Math.min(1, img[sy * 28 + sx])
    }
  return out
}

/** Classify what is on the pad; resolves to { digit, probs }. */
function classify() {
  const pixels = padPixels()
  if (!pixels) return Promise.reject(new Error('the pad is empty: draw a digit'))
  if (!worker || !trained) return Promise.reject(new Error('train the model first'))
  return new Promise((resolve, reject) => {
    // the worker answers in order: each answer settles the oldest waiting request
    predictions.push({ resolve, reject })
    worker.postMessage({ cmd: 'predict', pixels }, [pixels.buffer])
  })
}

function showPrediction(m) {
  $('digit').textContent = String(m.digit)
  $('probs').innerHTML = m.probs
    .map(
      (p, d) =>
        `<div class="${d === m.digit ? 'best' : ''}">${d} <span class="bar" style="width:${Math.round(p * 120)}px"></span> ${(p * 100).toFixed(1)}%</div>`,
    )
    .join('')
}

/** Paint a 28x28 image (values in [0, 1]) onto the pad, 10 pad pixels per image pixel. */
function paintImage(pixels) {
  clearPad()
  for (let i = 0; i < 784; i++) {
    const v = Math.round(pixels[i] * 255)
    if (v === 0) continue
    ctx.fillStyle = `rgb(${v},${v},${v})`
    ctx.fillRect((i % 28) * 10, Math.floor(i / 28) * 10, 10, 10)
  }
}

let testSet
/** Test image `i` of MNIST: { pixels (784 in [0, 1]), label }. */
async function testImage(i) {
  if (!testSet) {
    const get = async (name) => new Uint8Array(await (await fetch(`/mnist/${name}`)).arrayBuffer())
    const [img, lbl] = await Promise.all([get('t10k-images-idx3-ubyte'), get('t10k-labels-idx1-ubyte')])
    testSet = { images: img.subarray(16), labels: lbl.subarray(8) } // IDX headers: 16 and 8 bytes
  }
  return {
    pixels: Float32Array.from(testSet.images.subarray(784 * i, 784 * (i + 1)), (v) => v / 255),
    label: testSet.labels[i],
  }
}

$('train').addEventListener('click', () => {
  const device = $('device').value
  const steps = Number($('steps').value)
  const batch = Number($('batch').value)
  $('train').disabled = true
  train({ device, steps, batch })
    .catch(() => {})
    .finally(() => {
      $('train').disabled = false
    })
})
$('clear').addEventListener('click', clearPad)
clearPad()
drawPlot()
status(
  `ready: pick a device and press Train${crossOriginIsolated ? '' : ' (not cross-origin isolated: WASM runs on one thread)'}`,
)
window.demo = { train, classify, paintImage, testImage, clear: clearPad, padPixels }
