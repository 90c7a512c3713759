"""SAFL on your own word images: train briefly on a labelled folder, save the recognizer, load it back and read the
folder, printing each file's prediction and the files that could not be read.

    python examples/safl_own_images.py                        # renders 64 word images into ./safl_words first
    python examples/safl_own_images.py --folder my_words      # your images, any size and mode, labelled in
                                                              # my_words/labels.txt (lines `file<TAB>label`)

The defaults train the light model on the whole folder as one batch for 300 steps at a constant lr 3e-4, a
memorisation setting: a model trained this briefly learns the images it saw, not to read new ones (the method
README says how long reading held-out images takes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from reprolab.methods.safl import Recognizer, SynthConfig, TrainConfig, generate, read_label_file


def render_folder(folder: Path, n: int, seed: int = 0) -> None:
    """n generated word images (PNG) and their labels.txt."""
    images, labels = generate(n, SynthConfig(), seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"word_{i:03d}.png" for i in range(n)]
    for name, image in zip(names, images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / name)
    (folder / "labels.txt").write_text("".join(f"{name}\t{label}\n" for name, label in zip(names, labels)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SAFL on your own word images")
    parser.add_argument("--folder", type=Path, default=Path("safl_words"))
    parser.add_argument("--render", type=int, default=64, help="images to render if the folder has no labels.txt")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", type=Path, default=Path("safl_words.pt"), help="where to save the recognizer")
    args = parser.parse_args(argv)
    if not (args.folder / "labels.txt").exists():
        render_folder(args.folder, args.render)

    train = read_label_file(args.folder / "labels.txt")               # resized to the light model's 32 x 100
    print(f"training on {len(train)} images; skipped: {train.skipped or 'none'}")
    recognizer = Recognizer.from_config(size="light", seed=0)
    recognizer.fit(train, TrainConfig(steps=args.steps, batch_size=args.batch_size, schedule="constant", lr=3e-4))
    recognizer.save(args.model)
    reading = Recognizer.load(args.model).recognize(args.folder)       # FolderReading
    for name, text in reading.predictions.items():
        print(f"{name}\t{text}")
    for name, why in reading.skipped.items():
        print(f"skipped {name}: {why}")


if __name__ == "__main__":
    main()
