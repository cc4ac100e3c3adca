"""LeNet-5 (LeCun et al., 1998) in the form the course notebooks use.

    Conv 6@5x5 -> pool 2 -> Conv 16@5x5 -> pool 2 -> Dense 120 -> Dense 84 -> Dense 10

The 1998 network used scaled tanh units, trainable subsampling and a partly connected
C3 layer; the "seed" version here (as in the Keras and PyTorch notebooks) uses ReLU,
max pooling and full connections. For input (1, 32, 32): 61,706 parameters.
"""
from ..layers import Conv2D, Dense, Flatten, MaxPooling2D
from ..models import Sequential


def lenet5(num_classes=10, input_shape=(1, 32, 32), activation="relu", output_activation=None,
           dtype=None):
    """The seed LeNet-5. Feature maps: (6, H-4, W-4) -> pool -> (16, H/2-6, W/2-6) -> pool.

    num_classes        units of the last Dense layer
    input_shape        (C, H, W); 28x28 MNIST digits work too (the flattened size adapts)
    activation         of the conv and hidden Dense layers ("relu"; "tanh" as in 1998)
    output_activation  None for logits (train with F.cross_entropy / 'cross_entropy'),
                       "softmax" for probabilities (Keras' 'sparse_categorical_crossentropy')
    """
    return Sequential([
        Conv2D(6, 5, activation=activation, input_shape=tuple(input_shape), dtype=dtype),
        MaxPooling2D(2),
        Conv2D(16, 5, activation=activation, dtype=dtype),
        MaxPooling2D(2),
        Flatten(),
        Dense(120, activation=activation, dtype=dtype),
        Dense(84, activation=activation, dtype=dtype),
        Dense(num_classes, activation=output_activation, dtype=dtype),
    ], name="lenet5")
