"""``faceeval predict``: landmarks for any photo (faces found by a detector or given as boxes)."""
from __future__ import annotations

import click

from .common import POSITIVE_INT, parse_options, parse_weights


@click.command("predict")
@click.argument("photos", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--method", "method_name", default="dan", show_default=True,
              help="Registered method (`faceeval methods`): dan, ert, sdm, meanshape, ...")
@click.option("-o", "--out", type=click.Path(file_okay=False), required=True,
              help="Folder for PHOTO_<k>.pts (1-based points, faces k = 1, 2, ... left to right), landmarks.json "
                   "(0-based) and, with --overlay, PHOTO.png.")
@click.option("--detector", type=click.Choice(["auto", "hog", "cnn"]), default="auto", show_default=True,
              help="dlib's face detector (the 'peers' extra): hog is fast; cnn also finds turned and tilted faces "
                   "but takes seconds per photo on a CPU; auto runs hog, and cnn on the photos where hog finds no "
                   "face. Their boxes are mapped to the box style the method was trained with (mappings fitted on "
                   "300W training faces).")
@click.option("--upsample", type=click.IntRange(min=0), default=None,
              help="Detector upsampling: each step finds faces half as small, 3-4x slower "
                   "(default 1 for hog, 0 for cnn).")
@click.option("--boxes", "boxes_json", type=click.Path(exists=True, dir_okay=False), default=None,
              metavar="FILE.json", help="Face boxes instead of a detector: {photo: [x0, y0, x1, y1] or a list "
                                        "of them} (0-based pixels, photo = its file name or stem), in the 300W "
                                        "protocol's style (about the extent of the 68 landmarks).")
@click.option("--weights", default=None, metavar="PATH", help="Weights file or folder of the method.")
@click.option("-O", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Method option, repeatable (`faceeval methods` lists them).")
@click.option("--overlay", is_flag=True, help="Also write OUT/PHOTO.png: the photo with each face's box and points.")
@click.option("--batch-size", type=POSITIVE_INT, default=None, help="Faces per predict call (method's default).")
@click.option("--force", is_flag=True, help="Predict every photo again (default: go on where an earlier, identical "
                                            "command stopped).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def predict_command(photos, method_name, out, detector, upsample, boxes_json, weights, options, overlay, batch_size,
                    force, no_progress):
    """Find every face in PHOTOS (image files or folders) and predict its 68 landmarks.

    For photo.jpg with two faces: OUT/photo_1.pts, OUT/photo_2.pts (left to right, 1-based points
    as 300W names them) and their entries in OUT/landmarks.json ({"photo_1": {"box": [x0, y0, x1,
    y1], "points": [[x, y], ...]}}, 0-based). A photo without a face is a warning; the others go on.

    \b
    Examples:
      faceeval predict party.jpg holiday/ --out landmarks/ --overlay
      faceeval predict photos/ --method ert --detector cnn --out ert-landmarks/
      faceeval predict photos/ --boxes boxes.json --out landmarks/
    """
    from ..detect import DETECTORS, mappings_for
    from ..methods import check_method_options, load_method, method_class
    from ..photos import GIVEN_BOX_STYLE, find_photos, predict_photos, read_box_file

    if boxes_json is not None and (detector != "auto" or upsample is not None):
        src = click.get_current_context().get_parameter_source("detector")
        if upsample is not None or (src is not None and src.name != "DEFAULT"):
            raise click.UsageError("--boxes replaces the detector: give --boxes or --detector/--upsample, not both")
    cls = method_class(method_name)                    # an unknown method or missing extra fails here
    user_options = check_method_options(cls, parse_options(options))
    found = find_photos(photos, out)
    table = read_box_file(boxes_json) if boxes_json is not None else None
    face_finder = DETECTORS[detector](upsample) if table is None else None
    sources = face_finder.styles if face_finder is not None else (GIVEN_BOX_STYLE,)
    mappings = mappings_for(list(cls.box_styles), sources)
    target = next(iter(mappings.values())).target
    method_options = {**cls.box_styles[target], **user_options}
    weights = parse_weights([weights], [method_name])[method_name] if weights else None
    model = load_method(method_name, weights, **method_options)
    result = predict_photos(found, model, out, detector=face_finder, boxes=table, mappings=mappings, overlay=overlay,
                            batch_size=batch_size, progress=not no_progress, force=force,
                            warn=lambda line: click.echo(f"warning: {line}", err=True))
    for m in mappings.values():
        if m.source != m.target and m.source in result.styles:
            click.echo(f"boxes: {m.source} mapped to {m.target} (scale {m.scale_x:.3f} x {m.scale_y:.3f}, offset "
                       f"{m.offset_x:+.3f}, {m.offset_y:+.3f} of the box size; fitted on "
                       f"{m.figures.get('faces', '?')} 300W training faces)", err=True)
    photos_with_faces = sum(1 for n in result.faces.values() if n)
    resumed = f", {result.resumed} done before" if result.resumed else ""
    by = ", ".join(f"{n} by {name}" for name, n in sorted(result.found_by.items())) if len(result.found_by) > 1 else ""
    click.echo(f"{model.name}: {result.n_faces} faces in {photos_with_faces} of {len(found)} photos{resumed}"
               f"{f' ({by})' if by else ''} -> {result.out} (landmarks.json, .pts{', .png' if overlay else ''})")
    if result.no_face or result.unreadable:
        click.echo(f"without a face: {len(result.no_face)}; unreadable: {len(result.unreadable)}", err=True)


__all__ = ["predict_command"]
