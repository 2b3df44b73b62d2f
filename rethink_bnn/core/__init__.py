"""The plain core, shared by both front ends: what a binary optimizer declares
(`declarations`) and the rules of Bop and its successors (`rules`). Plain Python: it
imports neither TensorFlow nor Keras, nor anything else of this package."""
