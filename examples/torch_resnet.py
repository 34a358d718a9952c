"""A torchvision ResNet-18 in a plain PyTorch loop, its convolutions logged
every epoch with tb_actviz.torch (no Keras, no TensorFlow).

The data ships with scikit-image (`skimage.data.lfw_subset()`: 100 faces and
100 non-face patches, 25x25, gray), upsampled and repeated to RGB, so this
runs offline; the network starts from random weights (`weights=None`).

    python examples/torch_resnet.py --log_dir logs/torch_resnet
    tensorboard --logdir logs     # then open the Activations tab
"""

import argparse

import numpy as np
import torch
import torchvision
from skimage import data, transform
from torch.utils.tensorboard import SummaryWriter

import tb_actviz.torch as tbt


def load_faces(image_size, seed=0):
    """Faces (label 1) and non-faces (label 0) as float NCHW RGB tensors,
    resized, shuffled, split 160 / 40."""
    images = data.lfw_subset()
    labels = np.array([1] * 100 + [0] * 100)
    x = np.stack([transform.resize(im, (image_size, image_size)) for im in images])
    x = np.repeat(x[:, None], 3, axis=1).astype("float32")
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = torch.from_numpy(x[order]), torch.from_numpy(labels[order])
    return (x[:160], y[:160]), (x[160:], y[160:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log_dir", default="logs/torch_resnet")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--probe_size", type=int, default=8)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    (x_train, y_train), (x_val, y_val) = load_faces(args.image_size)
    model = torchvision.models.resnet18(weights=None, num_classes=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    probe = (x_val[: args.probe_size], y_val[: args.probe_size])
    tbt.list_layers(model, probe)

    scalars = SummaryWriter(args.log_dir)  # the same run: curves beside the activations
    with tbt.ActivationLogger(args.log_dir, probe, layers=["conv1", "layer2.0.conv1", "layer4.1.conv2"],
                              class_names=["not face", "face"], kernels=True,
                              attributions=True) as logger:
        logger.log(model, step=0)
        for epoch in range(1, args.epochs + 1):
            model.train()
            losses = []
            for batch in torch.randperm(len(x_train)).split(32):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            model.eval()
            with torch.no_grad():
                accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
            scalars.add_scalar("epoch_loss", float(np.mean(losses)), epoch)
            scalars.add_scalar("epoch_val_accuracy", accuracy, epoch)
            logger.log(model, step=epoch)
            print("epoch %d: loss %.3f, val accuracy %.2f" % (epoch, np.mean(losses), accuracy))
    scalars.close()


if __name__ == "__main__":
    main()
