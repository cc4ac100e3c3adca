"""``python -m minicnn``: the ``minicnn`` command (see minicnn/cli.py).

    python -m minicnn train lenet      # trains LeNet-5 on the embedded MNIST sample
"""
import sys

from .cli import digits_cnn, main  # noqa: F401  (digits_cnn: the CNN of the learning test)

if __name__ == "__main__":
    sys.exit(main())
