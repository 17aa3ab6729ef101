"""Lab 2: a neural network from scratch (numpy, MNIST).

Three parts, one module each: ``single_neuron`` (Part 1), ``hidden_layer`` (Part 2) and
``multiclass`` (Part 3); ``data`` reads MNIST. Importing the package trains nothing.
"""
