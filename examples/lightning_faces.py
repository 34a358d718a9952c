"""Train a small Lightning CNN on faces vs. non-faces and log its convs every epoch.

The PyTorch Lightning twin of examples/faces.py (the Keras demo): the same
data, shipped with scikit-image (`skimage.data.lfw_subset()`: 100 faces and
100 non-face patches, 25x25, gray), so this runs offline; the same network;
`tb_actviz.lightning.ActivationLogger` logs it into the run of Lightning's
TensorBoard logger, beside the loss and accuracy curves.

    python examples/lightning_faces.py --log_dir logs/lightning_faces
    tensorboard --logdir logs/lightning_faces   # then open the Activations tab

Each run goes to its own `version_k` under `--log_dir`.
"""

import argparse

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from skimage import data, transform
from torch import nn
from torch.nn import functional as F

import tb_actviz.torch
from tb_actviz.lightning import ActivationLogger

CLASS_NAMES = ["not face", "face"]


def load_faces(image_size, seed=0):
    """Faces (label 1) and non-faces (label 0), resized, shuffled, split:
    examples/faces.py's data, channels first (N, 1, H, W) as PyTorch takes
    images."""
    images = data.lfw_subset()
    labels = np.array([1] * 100 + [0] * 100)
    x = np.stack([transform.resize(im, (image_size, image_size)) for im in images])
    x = x[:, None].astype("float32")
    order = np.random.default_rng(seed).permutation(len(x))
    x, labels = x[order], labels[order]
    return (x[:160], labels[:160]), (x[160:], labels[160:])


class FacesCNN(L.LightningModule):
    """examples/faces.py's network: four 3x3 convolutions (16, 16, 32, 64
    filters, ReLU, max pooling after the 2nd and 3rd), global average
    pooling, dropout and a 2-way classifier; random horizontal flips while
    training."""

    def __init__(self, learning_rate=1e-3):
        super().__init__()
        self.save_hyperparameters()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv4 = nn.Conv2d(32, 64, 3, padding=1)
        self.dropout = nn.Dropout(0.3)
        self.classifier = nn.Linear(64, 2)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = F.relu(self.conv4(x)).mean(dim=(2, 3))
        return self.classifier(self.dropout(x))

    def training_step(self, batch, batch_index):
        x, y = batch
        flip = torch.rand(len(x), device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        self.log("train_accuracy", (logits.argmax(1) == y).float().mean(), on_step=False,
                 on_epoch=True)
        return loss

    def validation_step(self, batch, batch_index):
        x, y = batch
        logits = self(x)
        self.log("val_loss", F.cross_entropy(logits, y))
        self.log("val_accuracy", (logits.argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)


def loaders(x_train, y_train, x_val, y_val, batch_size=16):
    def loader(x, y, shuffle):
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)

    return loader(x_train, y_train, True), loader(x_val, y_val, False)


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log_dir", default="logs/lightning_faces")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--probe_size", type=int, default=8)
    return parser.parse_args(argv)


def main(argv=None):
    """Trains and logs; returns the Trainer (its `logger.log_dir` is the run)."""
    args = parse_arguments(argv)
    L.seed_everything(0, verbose=False)
    (x_train, y_train), (x_val, y_val) = load_faces(args.image_size)
    model = FacesCNN()
    probe = (x_val[: args.probe_size], y_val[: args.probe_size])
    tb_actviz.torch.list_layers(model, probe=probe[0])
    trainer = L.Trainer(
        max_epochs=args.epochs,
        accelerator="auto",
        devices=1,
        logger=TensorBoardLogger(args.log_dir, name=""),
        enable_checkpointing=False,
        enable_progress_bar=False,
        log_every_n_steps=5,
        callbacks=[
            # Every conv module, every epoch, its first kernels and where the
            # model looks (Grad-CAM and saliency) too.
            ActivationLogger(probe, class_names=CLASS_NAMES, kernels=True, attributions=True),
        ],
    )
    trainer.fit(model, *loaders(x_train, y_train, x_val, y_val))
    print("Logged to %s; see it with: tensorboard --logdir %s"
          % (trainer.logger.log_dir, args.log_dir))
    return trainer


if __name__ == "__main__":
    main()
