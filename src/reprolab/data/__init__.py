"""Loaders for real datasets. Each verifies checksums, caches decoded arrays and says where it looked."""

from reprolab.data.arrays import ArrayDataset
from reprolab.data.files import ChecksumError, DataFile, DataNotFoundError
from reprolab.data.idx import load_fashion_mnist, load_mnist
from reprolab.data.images import load_cifar10, load_digits, load_usps
from reprolab.data.root import cache_dir, data_root
from reprolab.data.subsets import first_n_per_class, fixed_split

LOADERS = {
    "mnist": (load_mnist, ("train", "test")),
    "fashion_mnist": (load_fashion_mnist, ("train", "test")),
    "cifar10": (load_cifar10, ("train", "test")),
    "usps": (load_usps, ("train", "test")),
    "digits": (load_digits, ("all",)),
}

__all__ = ["ArrayDataset", "ChecksumError", "DataFile", "DataNotFoundError", "load_mnist", "load_fashion_mnist",
           "load_cifar10", "load_usps", "load_digits", "cache_dir", "data_root", "first_n_per_class",
           "fixed_split", "LOADERS"]
