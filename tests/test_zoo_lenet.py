"""The zoo's LeNet-5: the seed notebooks' parameter counts and shapes."""
import minicnn as mc


def test_lenet5_parameter_counts_and_shapes():
    assert mc.zoo.lenet5().count_params() == 61_706
    assert mc.zoo.lenet5(input_shape=(3, 32, 32)).count_params() == 62_006
    model = mc.zoo.lenet5(num_classes=7, input_shape=(1, 28, 28), output_activation="softmax")
    assert model.output_shape == (7,)
