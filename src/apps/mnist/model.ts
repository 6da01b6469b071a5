// The MNIST models. The CNN is tinygrad's beautiful_mnist model (~98% test accuracy after ~70
// Adam steps of 512 images); the MLP is the quick baseline. Both take normalized images
// [B, 1, 28, 28] and return logits [B, 10]; state-dict keys are the property names
// (conv1.weight, bn1.running_mean, fc.bias, ...).
import { nn, type Tensor } from '../../index.js'

export interface MnistModel {
  call(x: Tensor): Tensor
}

/**
 * conv 5x5 (1->32) relu, conv 5x5 (32->32) relu, batchnorm, maxpool 2,
 * conv 3x3 (32->64) relu, conv 3x3 (64->64) relu, batchnorm, maxpool 2, linear 576 -> 10.
 * Spatial sizes: 28 -> 24 -> 20 -> 10 -> 8 -> 6 -> 3, so the flattened features are 64*3*3 = 576.
 */
export class MnistCnn implements MnistModel {
  conv1 = new nn.Conv2d(1, 32, 5)
  conv2 = new nn.Conv2d(32, 32, 5)
  bn1 = new nn.BatchNorm2d(32)
  conv3 = new nn.Conv2d(32, 64, 3)
  conv4 = new nn.Conv2d(64, 64, 3)
  bn2 = new nn.BatchNorm2d(64)
  fc = new nn.Linear(576, 10)

  call(x: Tensor): Tensor {
    x = this.bn1.call(this.conv2.call(this.conv1.call(x).relu()).relu()).maxPool2d(2)
    x = this.bn2.call(this.conv4.call(this.conv3.call(x).relu()).relu()).maxPool2d(2)
    return this.fc.call(x.flatten(1))
  }
}

/** 784 -> 512 relu -> 10. */
export class MnistMlp implements MnistModel {
  fc1 = new nn.Linear(784, 512)
  fc2 = new nn.Linear(512, 10)

  call(x: Tensor): Tensor {
    return this.fc2.call(this.fc1.call(x.flatten(1)).relu())
  }
}
