"""Image datasets: the image set (images, model inputs, labels, class names) and its sources by name, image
folders and the user's own arrays. The one input rule for images entering any lab: see imageset.as_model_input."""
from .folders import image_folder, read_image
from .imageset import (
    SPLITS,
    ImageSet,
    as_images,
    as_model_input,
    channel_stats,
    check_model,
    from_arrays,
    model_dtype,
    stratified_indices,
    to_uint8,
)
from .shapes import shapes_folder
from .sources import (
    DATASETS,
    SOURCES,
    TORCHVISION_SETS,
    Source,
    block_digits,
    data_root,
    digits,
    load_dataset,
    source_options,
    torchvision_set,
)

__all__ = ["SPLITS", "ImageSet", "as_images", "as_model_input", "channel_stats", "check_model", "from_arrays",
           "model_dtype", "stratified_indices", "to_uint8", "DATASETS", "SOURCES", "TORCHVISION_SETS", "Source",
           "block_digits", "data_root", "digits", "load_dataset", "source_options", "torchvision_set",
           "image_folder", "read_image", "shapes_folder"]
