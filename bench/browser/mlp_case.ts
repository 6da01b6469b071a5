// The MLP case (784-512-512-10, SGD, batch 512: one training step) shared by the browser page
// (bench/browser/page.ts, bundled: no Node built-ins here) and the Node WASM bench
// (bench/wasm_cases.ts). The page and Node load tsgrad through different entries (src/browser.ts,
// src/index.ts), so the API is passed in rather than imported.
import type { Device, nn, optim, Tensor } from '../../src/api.ts'

export interface MlpApi {
  Device: typeof Device
  nn: typeof nn
  optim: typeof optim
  Tensor: typeof Tensor
}

/** The model on `device` and one training step on (xs [512, 784], labels [512]); it ends when the loss is on the host. */
export function mlpTrainStep(api: MlpApi, device: string, xs: Tensor, labels: Tensor): () => Promise<void> {
  const { Device, nn, optim, Tensor } = api
  const prev = Device.DEFAULT
  Device.DEFAULT = device
  const layers = [new nn.Linear(784, 512), new nn.Linear(512, 512), new nn.Linear(512, 10)] as const
  Device.DEFAULT = prev
  const opt = new optim.SGD(nn.getParameters([...layers]), { lr: 0.01 })
  const [l1, l2, l3] = layers
  return async () => {
    Tensor.training = true
    opt.zeroGrad()
    const loss = l3.call(l2.call(l1.call(xs).relu()).relu()).sparseCategoricalCrossentropy(labels)
    loss.backward()
    Tensor.realize(loss, ...opt.scheduleStep())
    Tensor.training = false
    await loss.data()
  }
}
