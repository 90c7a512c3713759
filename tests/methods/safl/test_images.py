"""`prepare_image`: images of any size and mode become the model's pixels, the same ones for training (the readers)
and recognition; bad images raise a ValueError naming them when given directly and are skipped and named in a
folder."""

import numpy as np
import pytest
import torch
from PIL import Image

from reprolab.methods.safl.datasets import LmdbWordImages, WordImages, read_label_file, write_lmdb
from reprolab.methods.safl.images import ImageError, prepare_image, read_images
from reprolab.methods.safl.recognizer import Recognizer
from reprolab.methods.safl.synth import SynthConfig, generate

RAMP = np.arange(256, dtype=np.uint8).reshape(16, 16)


def test_sixteen_bit_images_span_the_grey_range_instead_of_turning_white(tmp_path):
    expected = prepare_image(RAMP, (16, 16))
    assert torch.equal(expected, torch.from_numpy(RAMP).expand(3, 16, 16))
    sixteen = RAMP.astype(np.uint16) * 257
    assert torch.equal(prepare_image(sixteen, (16, 16)), expected)
    Image.fromarray(sixteen).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    assert torch.equal(prepare_image(tmp_path / "deep.png", (16, 16)), expected)
    assert torch.equal(prepare_image(Image.fromarray(sixteen.astype(np.int32)), (16, 16)), expected)    # mode "I"


def test_transparent_pixels_are_white_and_palette_images_keep_their_colours():
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., :3], rgba[:8, :, 3] = 10, 255                     # top half opaque dark grey, bottom half transparent
    out = prepare_image(rgba, (16, 16))
    assert (out[:, :8] == 10).all() and (out[:, 8:] == 255).all()
    assert torch.equal(prepare_image(Image.fromarray(rgba).convert("LA"), (16, 16)), out)
    colours = np.stack([RAMP, RAMP[::-1], np.full_like(RAMP, 200)], axis=2)
    palette = Image.fromarray(colours).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    assert torch.equal(prepare_image(palette, (16, 16)),
                       torch.from_numpy(np.array(palette.convert("RGB"))).permute(2, 0, 1))


def test_resized_to_the_model_input_and_unusable_inputs_named():
    assert prepare_image(np.zeros((57, 203, 3), dtype=np.uint8), (32, 100)).shape == (3, 32, 100)
    assert prepare_image(np.zeros((20, 30, 1), dtype=np.uint8), (32, 100)).shape == (3, 32, 100)
    with pytest.raises(ImageError, match="unsupported image mode 'F'"):
        prepare_image(Image.fromarray(np.zeros((8, 8), dtype=np.float32)), (32, 100))
    with pytest.raises(ImageError, match=r"^crop 7: an array image must be uint8"):
        prepare_image(np.zeros((8, 8), dtype=np.float32), (32, 100), name="crop 7")
    with pytest.raises(ImageError, match="empty file"):
        prepare_image(b"", (32, 100))


def _write_images_of_every_mode(folder):
    """Five word images of other sizes and modes than the model's, with a label file."""
    images, labels = generate(5, SynthConfig(height=45, width=160), seed=0)
    rgb = [image.permute(1, 2, 0).numpy() for image in images]
    Image.fromarray(rgb[0]).save(folder / "a.jpg", quality=90)
    Image.fromarray((rgb[1].mean(2).astype(np.uint16) * 257)).save(folder / "b.png")              # I;16
    Image.fromarray(rgb[2]).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "c.gif")
    Image.fromarray(np.concatenate([rgb[3], np.full_like(rgb[3][..., :1], 200)], 2)).save(folder / "d.png")  # RGBA
    Image.fromarray(rgb[4]).convert("L").save(folder / "e.bmp")
    names = ["a.jpg", "b.png", "c.gif", "d.png", "e.bmp"]
    (folder / "labels.txt").write_text("".join(f"{n}\t{label}\n" for n, label in zip(names, labels)))
    return names, labels


def test_training_and_recognition_see_the_same_pixels(tmp_path):
    names, labels = _write_images_of_every_mode(tmp_path)
    recognizer = Recognizer.from_config(size="light", seed=0)
    train = read_label_file(tmp_path / "labels.txt")                    # what training reads
    assert train.labels == labels and train.images.shape == (5, 3, 32, 100)
    seen = recognizer.prepare([tmp_path / n for n in names])            # what recognition feeds the model
    assert torch.equal(seen, train.images)
    assert torch.equal(read_images(tmp_path, recognizer.input_size).images, train.images)
    root = tmp_path / "db"
    write_lmdb(root, WordImages(train.images[:0], []))
    import lmdb

    env = lmdb.open(str(root), map_size=1 << 24)
    with env.begin(write=True) as txn:                                  # the original files' bytes
        for i, (name, label) in enumerate(zip(names, labels), start=1):
            txn.put(b"image-%09d" % i, (tmp_path / name).read_bytes())
            txn.put(b"label-%09d" % i, label.encode())
        txn.put(b"num-samples", b"5")
    env.close()
    assert torch.equal(LmdbWordImages(root).batch(torch.arange(5))[0], train.images)
    strings = recognizer.transcribe(train.images)
    assert recognizer.recognize(tmp_path).predictions == dict(zip(names, strings))
    assert [recognizer.recognize(tmp_path / n) for n in names] == strings
    assert recognizer.recognize([Image.open(tmp_path / n) for n in names]) == strings
    wide = torch.from_numpy(np.stack([np.array(Image.open(tmp_path / "a.jpg"))])).permute(0, 3, 1, 2)
    assert torch.equal(recognizer.prepare(wide), train.images[:1])      # a uint8 tensor of another size


def test_bad_images_are_skipped_by_name_in_a_folder_and_raise_when_given_directly(tmp_path):
    images, labels = generate(2, SynthConfig(), seed=0)
    Image.fromarray(images[0].permute(1, 2, 0).numpy()).save(tmp_path / "good.png")
    Image.fromarray(images[1].permute(1, 2, 0).numpy()).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[:len(data) // 2])
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "empty.png").write_bytes(b"")
    Image.fromarray(np.ones((8, 8), dtype=np.float32)).save(tmp_path / "float.tiff")
    (tmp_path / "notes.txt").write_text("not an image file name: not read")
    recognizer = Recognizer.from_config(size="light", seed=0)
    reading = recognizer.recognize(tmp_path)
    assert list(reading.predictions) == ["good.png", "whole.png"]
    assert set(reading.skipped) == {"truncated.png", "corrupt.jpg", "empty.png", "float.tiff"}
    assert reading.skipped["empty.png"] == "empty file" and "'F'" in reading.skipped["float.tiff"]
    for name in reading.skipped:
        with pytest.raises(ValueError, match=f"{name}: "):
            recognizer.recognize(tmp_path / name)
    with pytest.raises(ValueError, match="missing.png: no such file"):
        recognizer.recognize(tmp_path / "missing.png")
    with pytest.raises(ValueError, match=r"images\[1\]: empty file"):
        recognizer.recognize([data, b""])
    (tmp_path / "labels.txt").write_text("".join(f"{n} abc\n" for n in ["good.png", "empty.png", "float.tiff"]))
    read = read_label_file(tmp_path / "labels.txt")
    assert read.labels == ["abc"] and read.skipped == {"undecodable_image": 2}
    assert read.bad_images == {"empty.png": "empty file", "float.tiff": reading.skipped["float.tiff"]}
