"""Which files a batch of denoising takes and where each result goes (``semdenoise denoise``; the Beam
pipeline names its outputs the same way). Nothing here reads pixels or writes files."""

from __future__ import annotations

import os

from keras_semdenoise import imageio


def expand_inputs(paths: list[str]) -> tuple[list[str], list[str]]:
    """The image files to denoise and the problems found.

    Files named directly are taken as they are (a non-image fails later, when
    read); folders give the image files directly inside (by extension, sorted).
    A file named twice, by any path, is listed once.

    Returns:
        ``(files, problems)``: paths in order, and one-line messages for
        arguments that are neither a file nor a folder of images.
    """
    files, problems, seen = [], [], set()
    for path in paths:
        if os.path.isdir(path):
            try:
                found = imageio.list_image_files(path)
            except OSError as error:
                problems.append(f"{path}: cannot list folder ({error.strerror or error})")
                continue
            if not found:
                problems.append(f"{path}: folder holds no image files ({', '.join(imageio.IMAGE_EXTENSIONS)})")
        elif os.path.exists(path):
            found = [path]
        else:
            problems.append(f"{path}: no such file or folder")
            continue
        for file in found:
            key = os.path.normcase(os.path.realpath(file))
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files, problems


def output_name(path: str, suffix: str) -> str:
    """``<stem of path><suffix>.png``: the file name of the result for the input ``path``."""
    return f"{os.path.splitext(os.path.basename(path))[0]}{suffix}.png"


def output_path(path: str, out_dir: str, suffix: str) -> str:
    """``out_dir/<stem of path><suffix>.png``."""
    return os.path.join(out_dir, output_name(path, suffix))


def _file_key(path: str):
    """Identity of an existing file (device, inode); ``None`` if it does not exist."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_dev, status.st_ino)


def plan_outputs(files: list[str], out_dir: str, suffix: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Pairs each input with its output path, refusing outputs that would clobber something.

    An output may not be the same file as any input (same path after links, or a
    hard link / case variant of it), and two inputs may not share an output (say
    ``a.png`` and ``a.jpg``): the later one is refused. An existing output that
    is not an input is overwritten.

    Returns:
        ``(jobs, problems)``: ``(input, output)`` pairs to run, and one-line messages.
    """
    input_paths = {os.path.normcase(os.path.realpath(f)) for f in files}
    input_keys = {key for key in map(_file_key, files) if key is not None}
    jobs, problems, claimed = [], [], {}
    for path in files:
        target = output_path(path, out_dir, suffix)
        real_target = os.path.normcase(os.path.realpath(target))
        if real_target in input_paths or _file_key(target) in input_keys:
            problems.append(f"{path}: output {target} would overwrite an input; choose another --out or --suffix")
        elif real_target in claimed:
            problems.append(
                f"{path}: output {target} is also the output of {claimed[real_target]}; "
                "rename one of them or denoise them separately"
            )
        else:
            claimed[real_target] = path
            jobs.append((path, target))
    return jobs, problems
