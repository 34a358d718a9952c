"""tb_actviz: watch what every convolution filter learns while a Keras model trains."""

import setuptools

setuptools.setup(
    name="tb_actviz",
    version="0.1.0",
    description=(
        "A Keras callback that logs feature maps every epoch and a TensorBoard "
        "'Activations' tab to browse them over training"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["tb_actviz", "tb_actviz.*"]),
    # The tab's browser code lives in frontend/ and ships inside the package
    # through the symbolic link tb_actviz/frontend -> ../frontend.
    package_data={
        "tb_actviz": [
            "plugin_data.proto",
            "frontend/*.js",
            "frontend/*/*.js",
            "frontend/*.css",
        ],
    },
    install_requires=[
        # Tested with 2.18 (the oldest, on protobuf 5.26) and 2.21.
        "tensorboard>=2.18,<2.22",
        "numpy>=1.23",
        # plugin_data_pb2 builds its message class at import time, so it runs
        # on every runtime TensorBoard 2.18-2.21 accepts; tested on 5.26.0 and
        # 7.x (tools/test_protobuf_range.sh).
        "protobuf>=5.26.0,<8",
        # Already a TensorBoard dependency; PNG encoding and decoding.
        "pillow>=9",
        # The event writer's record checksums: C CRC32C, 40-90x faster per
        # write than TensorBoard's pure-Python one (~0.3 s per 2.5 MB log).
        "google-crc32c>=1.5",
        # The PNG deflate: ISA-L's, 3x faster than zlib's level 1 at the same
        # size (a layer-step's strips, benchmarks/bench_codec.py), the largest
        # part of a log's background work. Where no wheel is published, the
        # encoder falls back to zlib (format/images.py).
        "isal>=1.5; platform_machine == 'x86_64' or platform_machine == 'AMD64'"
        " or platform_machine == 'aarch64' or platform_machine == 'arm64'",
    ],
    extras_require={
        # The callback needs Keras 3 and one of its backends; extras, so that
        # users keep the build they have (tensorflow-cpu, a GPU build, a CUDA
        # torch). The versions are the tested ones.
        "tensorflow": ["keras>=3.15", "tensorflow>=2.21"],
        "jax": ["keras>=3.15", "jax>=0.10"],
        "torch": ["keras>=3.15", "torch>=2.14"],
        # The PyTorch-native loggers (tb_actviz.torch, .lightning,
        # .transformers): no Keras. "torch" above is Keras on PyTorch.
        "torch-native": ["torch>=2.1"],
        "lightning": ["torch>=2.1", "lightning>=2.0"],
        "hf-trainer": ["torch>=2.1", "transformers>=4.40", "accelerate>=0.26"],
        # s3:// log dirs go through TensorBoard's own file layer, which
        # reaches S3 with boto3 (tested against an S3-compatible server).
        # An extra, not a requirement: most logs go to a local disk. Other
        # schemes go through fsspec and the scheme's package (gcsfs for
        # gs://), not declared here because not tested against the service.
        "s3": ["boto3>=1.28"],
        "test": ["pytest", "playwright", "hypothesis", "scikit-image", "scikit-learn"],
    },
    entry_points={
        "tensorboard_plugins": [
            "activations = tb_actviz.activations_plugin:ActivationsLoader",
        ],
        "console_scripts": ["tb-actviz = tb_actviz.export:main"],
    },
    classifiers=[
        "Framework :: TensorFlow",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
