"""tfdeeplab: DeepLab semantic segmentation in TensorFlow 2 / Keras 3.

ResNet-v1 with atrous convolution, the DCN-paper DeepLab head and the DeepLab v2 ASPP
head, deformable convolution, multi-scale inputs; the shipped recipes
(`tfdeeplab/recipes/`) reproduce the MXNet DCN-paper baselines on PASCAL VOC 2012
(+SBD) and Cityscapes.
"""

__version__ = "0.1.0"
