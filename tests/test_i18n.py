"""English and French (issue 12 item 7): the two catalogues have the same keys with the same placeholders, every
key the code asks for exists, no user-visible text in shapes_viz/ui/ or app.py bypasses the catalogue (an ast
scan), and the app in French: French texts on every view, the input and the view kept across a switch, a
shared link's `lang`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from shapes_viz.ui import i18n

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "shapes_viz" / "ui"
SOURCES = sorted(UI.glob("*.py")) + [ROOT / "app.py"]

# Streamlit calls whose first positional argument (or label/help/... keyword) is shown to the user.
SHOWN_CALLS = {
    "markdown", "caption", "info", "warning", "error", "success", "button", "toggle", "selectbox", "radio",
    "multiselect", "slider", "number_input", "metric", "expander", "tabs", "download_button", "file_uploader",
    "checkbox", "form_submit_button", "text_input", "progress", "spinner", "image", "title", "header",
    "subheader", "toast", "set_page_config", "write", "text",
}
SHOWN_KEYWORDS = {"label", "help", "caption", "placeholder", "title", "text", "page_title", "show_spinner", "value",
                  "delta"}
# Texts that are not language, with the reason each may appear literally.
ALLOWED = {
    "?": "an unknown value (a missing number in a history file)",
    " ...": "an ellipsis after a truncated list",
}
# Modules whose texts are not yet in the catalogue (each removed as it is converted).
NOT_YET_TRANSLATED: set[str] = set()


def catalogues() -> dict[str, dict[str, str]]:
    return {lang: i18n.catalogue(lang) for lang in i18n.LANGUAGES}


def test_both_languages_have_the_same_keys_and_placeholders():
    found = catalogues()
    en = found["en"]
    for lang, texts in found.items():
        assert set(texts) == set(en), (lang, sorted(set(texts) ^ set(en)))
        for key, value in texts.items():
            assert i18n.placeholders(value) == i18n.placeholders(en[key]), (lang, key)
            assert value.strip(), (lang, key)


def test_french_is_french():
    """Not a copy of the English: most texts differ (the same only where they are names or symbols)."""
    en, fr = i18n.catalogue("en"), i18n.catalogue("fr")
    same = [key for key in en if en[key] == fr[key] and re.search(r"[a-z]{4,}", en[key])]
    assert len(same) <= 0.1 * len(en), same


def test_every_text_formats_with_its_placeholders():
    for lang, texts in catalogues().items():
        for key, value in texts.items():
            values = {name: 0.5 for name in i18n.placeholders(value)}
            try:
                value.format(**values)
            except (ValueError, TypeError):  # a string placeholder ({name}) with a numeric spec cannot be 0.5
                value.format(**{name: "x" for name in values})


def test_stored_texts_match_the_core():
    from shapes_viz.preprocessing import EMPTY_MESSAGE
    from shapes_viz.compare.link import PROBLEMS

    assert i18n.text("en", "errors.image_empty") == EMPTY_MESSAGE
    for name, template in PROBLEMS.items():
        assert i18n.text("en", f"share.problem.{name}", key="{key}", count="{count}") == template


def _t_keys(tree: ast.AST) -> list[tuple[str, int]]:
    keys = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
                and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "t" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            keys.append((node.args[0].value, node.lineno))
    return keys


def test_every_key_the_code_uses_exists():
    en = i18n.catalogue("en")
    used = 0
    for path in SOURCES:
        for key, line in _t_keys(ast.parse(path.read_text())):
            used += 1
            assert key in en, f"{path.name}:{line}: t({key!r}) is not in locales/en.toml"
    assert used > 50 or NOT_YET_TRANSLATED


def test_every_key_like_constant_exists():
    """Keys kept in constants ({"freshly generated": "sidebar.source_generated"}) exist too."""
    en = i18n.catalogue("en")
    sections = {key.split(".")[0] for key in en}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)+", node.value):
                if node.value.split(".")[0] in sections and not node.value.endswith((".py", ".h5", ".toml")):
                    assert node.value in en, f"{path.name}:{node.lineno}: {node.value!r} is not in locales/en.toml"


def test_dynamic_keys_exist():
    """Keys built at run time: tabs, classes, sections, range and method labels."""
    from shapes_viz.config import CLASS_NAMES
    from shapes_viz.explain.methods import METHODS
    from shapes_viz.ui.inputs import SOURCES as INPUT_SOURCES
    from shapes_viz.ui.views import VIEWS

    en = i18n.catalogue("en")
    for view in VIEWS:
        assert i18n.tab_key("view", view.label) in en and i18n.text("en", i18n.tab_key("view", view.label)) == view.label
    for source in INPUT_SOURCES if "inputs.py" not in NOT_YET_TRANSLATED else ():
        assert i18n.text("en", i18n.tab_key("source", source)) == source
    for name in CLASS_NAMES:
        assert f"class.{name}" in en
    from shapes_viz.ui.lessons import GLOSSARY, KINDS, LESSONS

    for lesson in LESSONS:
        assert f"lessons.title.{lesson.id}" in en
    for kind in KINDS:
        assert f"lessons.operation.{kind}" in en and f"lessons.look_for.{kind}" in en
    for term in GLOSSARY:
        assert f"glossary.{term}" in en
    for method in METHODS if "why.py" not in NOT_YET_TRANSLATED else ():
        assert f"why.method.{method}" in en and f"why.caption.{method}" in en


# --- the core's messages (exceptions, training jobs) -----------------------------------------------------------


def _error_codes(source: str) -> list[tuple[str, int]]:
    """(code, line) of every message code a module gives: `code="..."` and `<something>_code="..."` keyword
    arguments, a constant or the name of a module constant (EMPTY_CODE)."""
    tree = ast.parse(source)
    constants = {name: value.value for name, value in _constants(tree).items()
                 if isinstance(value, ast.Constant) and isinstance(value.value, str)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            if keyword.arg is None or not (keyword.arg == "code" or keyword.arg.endswith("_code")):
                continue
            value = keyword.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.append((value.value, value.lineno))
            elif isinstance(value, ast.Name) and value.id in constants:
                found.append((constants[value.id], value.lineno))
    return found


def test_every_message_code_of_the_source_has_a_text_and_every_text_a_code():
    en = i18n.catalogue("en")
    used = set()
    for path in sorted((ROOT / "shapes_viz").rglob("*.py")):
        for code, line in _error_codes(path.read_text()):
            used.add(code)
            assert f"errors.{code}" in en, f"{path.relative_to(ROOT)}:{line}: code {code!r} has no errors.{code} text"
    assert len(used) > 40, sorted(used)  # the scan finds them
    unused = sorted(key for key in en if key.startswith("errors.") and key.removeprefix("errors.") not in used)
    assert not unused, f"texts no code of shapes_viz/ uses: {unused}"


def _raised(call, *args, **kwargs):
    from shapes_viz.errors import ShapesVizError

    with pytest.raises(ShapesVizError) as info:
        call(*args, **kwargs)
    return info.value


def assert_english_is_the_message(exc, message: str | None = None) -> None:
    """The English catalogue's text of the exception's code, filled with its values, is its own message."""
    assert exc.code, f"no code: {exc!r}"
    assert i18n.text("en", f"errors.{exc.code}", **exc.values) == (str(exc) if message is None else message)


def test_the_english_texts_are_the_core_messages(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from shapes_viz import preprocessing
    from shapes_viz.dataset import list_class_files
    from shapes_viz.errors import ModelNotPublished
    from shapes_viz.model_files import check_model_file
    from shapes_viz.preprocessing import preprocess
    from shapes_viz.ui.live_canvas import parse_drawing
    from tests.helpers.drawings import shape_png

    def png(image: Image.Image) -> bytes:
        import io

        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    seen = set()
    cases = [
        (preprocess, b""), (preprocess, b"GIF89a" + bytes(100)), (preprocess, shape_png()[:200]),
        (preprocess, png(Image.new("L", (3, 40), 0))), (preprocess, png(Image.new("RGB", (64, 64), "white"))),
        (preprocess, np.zeros((8, 8), np.float32)), (preprocess, np.zeros((8, 8, 2), np.uint8)),
        (preprocess, tmp_path / "missing.png"), (preprocess, 3.5),
        (list_class_files, tmp_path / "no-such-folder"), (list_class_files, tmp_path),
        (parse_drawing, "a string"), (parse_drawing, {"seq": "1"}),
        (parse_drawing, {"seq": 1, "pen": "up", "png": "%%% not base64 %%%", "strokes": 1}),
        (check_model_file, tmp_path / "missing.h5"),
    ]
    (tmp_path / "model.txt").write_text("not a model")
    (tmp_path / "model.keras").write_bytes(b"not a zip")
    cases += [(check_model_file, tmp_path / "model.txt"), (check_model_file, tmp_path / "model.keras")]
    for call, argument in cases:
        exc = _raised(call, argument)
        assert_english_is_the_message(exc)
        seen.add(exc.code)
    (tmp_path / "cats").mkdir()
    exc = _raised(list_class_files, tmp_path)
    assert_english_is_the_message(exc)
    (tmp_path / "cats").rmdir()
    (tmp_path / "circles").mkdir()
    (tmp_path / "circles" / "a.png").write_bytes(b"x")
    exc = _raised(list_class_files, tmp_path, require_all=True)
    assert_english_is_the_message(exc)
    seen.add(exc.code)
    monkeypatch.setattr(preprocessing, "MAX_IMAGE_BYTES", 10_000)
    exc = _raised(preprocess, bytes(123_456))  # a thousands separator in the English
    assert_english_is_the_message(exc)
    seen.add(exc.code)
    kept = ModelNotPublished(0.25, 1.0, 9, hint="Tick the box.")
    assert_english_is_the_message(kept, kept.summary)
    assert {"image_empty_file", "image_not_png_jpeg", "image_tiny", "image_empty", "image_array_dtype",
            "image_array_shape", "image_file_missing", "image_source_unsupported", "image_too_large_bytes",
            "data_folder_missing", "data_no_class_folders", "data_single_class", "drawing_unreadable_type",
            "drawing_unreadable_keys", "drawing_bad_base64", "model_file_missing", "model_file_suffix",
            "model_file_invalid"} <= seen, seen


def test_the_english_texts_are_the_job_messages():
    from shapes_viz.training import status

    messages = [status._published_message(3, 0.875, 0.5), status._published_message(3, 0.875, None),
                status._published_message(3, None, 0.5), status._published_message(None, None, None),
                status._ended_message(1, "RuntimeError: boom"), status._ended_message(-9, ""),
                status._ended_message(None, "Killed"), status._ended_message(None, "")]
    assert messages[0]["message"] == ("New model published: best epoch 3, validation accuracy 87.5% "
                                      "(the previous model: 50.0% on the same images).")
    assert messages[7]["message"] == ("The training process ended without reporting a result; the previous model "
                                      "stays.")
    assert len({m["message_code"] for m in messages}) == len(messages)
    for message in messages:
        assert i18n.text("en", f"errors.{message['message_code']}", **message["message_values"]) == message["message"]
        assert i18n.text("fr", f"errors.{message['message_code']}", **message["message_values"]) != message["message"]


def test_error_text_in_french_with_fallbacks(monkeypatch):
    from shapes_viz.errors import DatasetError, ImageError, ShapesVizError
    from shapes_viz.preprocessing import preprocess

    monkeypatch.setattr(i18n, "language", lambda: "fr")
    refused = _raised(preprocess, b"GIF89a" + bytes(100))
    assert i18n.error_text(refused) == "Seules les images PNG ou JPEG sont acceptées ; ce fichier n'est ni l'un ni l'autre."
    assert i18n.error_text("model_not_published", {"new_accuracy": 0.5, "current_accuracy": 0.75, "val_count": 9}) == (
        "Non publié : le nouveau modèle atteint 50.0% sur les 9 images de validation, le modèle actuel 75.0% sur les "
        "mêmes images ; le modèle actuel reste.")
    # no code, an unknown code, values that do not fit: the English message
    assert i18n.error_text(ImageError("Something odd.")) == "Something odd."
    assert i18n.error_text(ValueError("plain")) == "plain"
    assert i18n.error_text("no_such_code", {}, fallback="English text") == "English text"
    assert i18n.error_text(None, None, fallback="English text") == "English text"
    assert i18n.error_text("image_too_large_bytes", {"size": "many"}, fallback="Image too large.") == "Image too large."
    # an exception given to t() is shown in the page's language
    missing = DatasetError("Data folder not found: /x", code="data_folder_missing", folder="/x")
    assert i18n.text("fr", "where.no_data", error=missing, folder="/x").startswith("Dossier de données introuvable : /x")
    with pytest.raises(TypeError, match="Received: int 3"):
        i18n.error_text(3)
    with pytest.raises(ValueError, match="Received: code='Bad Code'"):
        ShapesVizError("x", code="Bad Code")


# --- no text bypasses the catalogue --------------------------------------------------------------------------


def _constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level NAME = <expr> assignments (the texts a module keeps in constants)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            found[node.target.id] = node.value
    return found


def is_language(text: str) -> bool:
    """Words in a literal: not "", icons (":material/...:"), placeholders, numbers and punctuation only."""
    if text in ALLOWED:
        return False
    stripped = re.sub(r":material/[a-z_]+:", "", text)
    stripped = re.sub(r"\{[^{}]*\}", "", stripped)
    stripped = re.sub(r"%[-+ 0#]*\d*(\.\d+)?[a-z%]", "", stripped)
    return re.search(r"[A-Za-zÀ-ÿ]{2,}", stripped) is not None


def _literal_words(node: ast.AST, constants: dict[str, ast.expr], seen: frozenset = frozenset()) -> list[str]:
    """The English-bearing literals an argument expression shows: constants, f-string parts, names of module
    constants, TEXT["key"] look-ups, concatenations, conditionals, `.format` calls on those; calls of t() and other
    calls' results are dynamic and pass."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) and is_language(node.value) else []
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant) and is_language(v.value)]
    if isinstance(node, ast.Name) and node.id in constants and node.id not in seen:
        return _literal_words(constants[node.id], constants, seen | {node.id})
    if isinstance(node, ast.Subscript):
        target = constants.get(node.value.id) if isinstance(node.value, ast.Name) else None
        if isinstance(target, ast.Dict) and isinstance(node.slice, ast.Constant):  # TEXT["key"]: that text only
            for key, value in zip(target.keys, target.values):
                if isinstance(key, ast.Constant) and key.value == node.slice.value:
                    return _literal_words(value, constants, seen)
        return _literal_words(node.value, constants, seen)
    if isinstance(node, ast.Dict):
        return [w for v in node.values for w in _literal_words(v, constants, seen)]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [w for v in node.elts for w in _literal_words(v, constants, seen)]
    if isinstance(node, ast.BinOp):
        return _literal_words(node.left, constants, seen) + _literal_words(node.right, constants, seen)
    if isinstance(node, ast.IfExp):
        return _literal_words(node.body, constants, seen) + _literal_words(node.orelse, constants, seen)
    if isinstance(node, ast.Lambda):
        return _literal_words(node.body, constants, seen)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _literal_words(node.func.value, constants, seen)
    return []


def bypasses(source: str) -> list[tuple[int, str]]:
    """(line, text) of every literal text a shown Streamlit call gets without the catalogue."""
    tree = ast.parse(source)
    constants = _constants(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name = node.func.attr
        if name not in SHOWN_CALLS and name not in ("cache_data", "cache_resource"):
            continue
        arguments = [node.args[0]] if node.args and name in SHOWN_CALLS else []
        arguments += [kw.value for kw in node.keywords if kw.arg in SHOWN_KEYWORDS or kw.arg == "format_func"]
        for argument in arguments:
            found += [(node.lineno, text) for text in _literal_words(argument, constants)]
    return found


def test_the_scan_finds_a_bypass():
    """The scan itself: literals, f-strings, constants, TEXT look-ups, labels and help texts are caught; t() passes."""
    code = '''
HINT = "Click a cell."
TEXT = {"a": "Pin it"}
st.info("No model loaded.")
st.caption(f"{n} files skipped")
st.warning(HINT)
left.button(TEXT["a"], key="k")
st.radio(label="Colour", options=[1], help=f"{x}" + " whole layer", format_func=lambda v: "the one" if v else v)
st.markdown(t("views.total", count=3))
st.image(x, caption=f"{a} → {b} ({p:.0%})")
st.button("", icon=":material/delete:")
@st.cache_data(show_spinner="Loading ...")
def f(): pass
'''
    texts = [text for _, text in bypasses(code)]
    assert texts == ["No model loaded.", " files skipped", "Click a cell.", "Pin it", "Colour", " whole layer",
                     "the one", "Loading ..."] or sorted(texts) == sorted(
        ["No model loaded.", " files skipped", "Click a cell.", "Pin it", "Colour", " whole layer", "the one",
         "Loading ..."]), texts


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_shown_text_bypasses_the_catalogue(path):
    found = bypasses(path.read_text())
    if path.name in NOT_YET_TRANSLATED:
        assert found, f"{path.name} is translated now: remove it from NOT_YET_TRANSLATED"
        return
    assert not found, "\n".join(f"{path.name}:{line}: {text!r}" for line, text in found)


# --- the app in French (AppTest: no browser locale, so English unless chosen) -----------------------------------

from tests.helpers.apptest import app_env, assert_clean, new_app, shared_model, upload  # noqa: E402,F401
from tests.helpers.drawings import shape_png  # noqa: E402


def page_text(at) -> str:
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "title")
    texts = [str(e.value) for kind in kinds for e in getattr(at, kind)]
    texts += [str(m.label) for m in at.get("metric")]
    return "\n".join(texts)


def french_app():
    at = new_app()
    at.session_state["language"] = "fr"
    return upload(at, shape_png("triangles"), "triangle.png")


@pytest.mark.parametrize("view", ["Explorer", "Why?", "Channels", "Compare", "Where?", "Lessons", "Model", "Training",
                                  "Dataset"])
def test_every_view_in_french_with_an_input(app_env, view):
    pytest.importorskip("tensorflow")
    at = french_app()
    at.session_state["view_tab"] = view  # the English id: moved to the French label before the tabs are drawn
    at.run()
    assert_clean(at)
    text = page_text(at)
    assert "Que voit le réseau ?" in text and "Prédiction pour triangle.png" in text, text[:500]
    assert at.session_state["view_tab"] == i18n.text("fr", i18n.tab_key("view", view))
    expected = {"Explorer": "Qu'est-ce que je regarde", "Why?": "Pourquoi", "Channels": "Extinction",
                "Compare": "Épinglez l'entrée actuelle", "Where?": "Couleur : vraie classe", "Lessons": "Glossaire",
                "Model": "paramètres", "Training": "Jeu de test", "Dataset": "premières images de chaque classe"}[view]
    labels = [e.label for e in at.get("expander")] + [str(e.value) for e in at.get("markdown")]
    assert expected in text or any(expected in str(label) for label in labels), (view, text[:2000])
    for english in ("What does the network see?", "Draw or upload", "No model loaded", "Something went wrong"):
        assert english not in text, (view, english)


def test_switching_language_keeps_the_input_the_view_and_the_picks(app_env):
    pytest.importorskip("tensorflow")
    at = upload(new_app(), shape_png("circles"), "circle.png")
    at.session_state["view_tab"] = "Why?"
    at.session_state["explorer_picked_layer"] = "conv2_1"
    at.session_state["explorer_channel"] = 3
    at.session_state["why_picked_method"] = "saliency"
    at.session_state["knockout"] = {"conv2_1": [5]}
    at.run()
    assert_clean(at)
    before = at.session_state["input_choice"]["digest"]
    assert "What does the network see?" in page_text(at)
    at.radio(key="language_select").set_value("fr").run()
    assert_clean(at)
    text = page_text(at)
    assert "Que voit le réseau ?" in text and "Saillance" in text, text[:1500]
    assert at.session_state["language"] == "fr"
    assert at.session_state["view_tab"] == "Pourquoi ?"
    assert at.session_state["input_choice"]["digest"] == before
    assert at.session_state["explorer_picked_layer"] == "conv2_1" and at.session_state["explorer_channel"] == 3
    assert at.session_state["why_picked_method"] == "saliency"
    assert at.session_state["knockout"] == {"conv2_1": [5]}
    at.radio(key="language_select").set_value("en").run()
    assert_clean(at)
    assert at.session_state["view_tab"] == "Why?" and "What does the network see?" in page_text(at)
    assert at.session_state["input_choice"]["digest"] == before


@pytest.fixture
def no_model_env(monkeypatch, tmp_path) -> Path:
    """The app without a model file and with an empty data folder: the input's messages need neither (no
    TensorFlow, no training)."""
    (tmp_path / "models").mkdir()
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(tmp_path / "models" / "shapes_cnn.h5"))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(tmp_path / "data"))
    return tmp_path


def test_a_french_session_sees_the_image_errors_in_french_and_a_switch_follows(no_model_env):
    import base64
    import io

    from PIL import Image

    empty_fr = "Aucune forme trouvée : dessinez ou importez d'abord une forme."
    at = new_app()
    at.session_state["language"] = "fr"
    at.run()  # an empty canvas
    assert_clean(at)
    assert empty_fr in page_text(at), page_text(at)
    white = io.BytesIO()
    Image.new("RGB", (280, 280), "white").save(white, format="PNG")
    at.session_state["canvas_0"] = {"drawing": {"seq": 1, "pen": "up", "png": base64.b64encode(white.getvalue()).decode(),
                                                "strokes": 1}}
    at.run()  # a blank drawing: preprocess() finds no shape
    assert_clean(at)
    assert at.session_state["input_choice"]["message_code"] == "image_empty"
    assert empty_fr in page_text(at) and "No shape found" not in page_text(at), page_text(at)
    upload(at, b"GIF89a" + bytes(100), "drawing.png")  # not an image this app reads
    assert_clean(at)
    text = page_text(at)
    assert "Seules les images PNG ou JPEG sont acceptées ; ce fichier n'est ni l'un ni l'autre." in text, text
    assert "Only PNG or JPEG" not in text
    stored = at.session_state["input_choice"]  # plain data: the English message, its code and values
    assert (stored["message"], stored["message_code"]) == (
        "Only PNG or JPEG images are supported; this file is neither.", "image_not_png_jpeg")
    at.radio(key="language_select").set_value("en").run()
    assert_clean(at)
    text = page_text(at)
    assert "Only PNG or JPEG images are supported; this file is neither." in text and "Seules les" not in text, text


def test_a_link_with_lang_fr_opens_in_french_and_an_unknown_lang_is_ignored(app_env):
    pytest.importorskip("tensorflow")
    at = new_app()
    at.query_params.update({"lang": "fr", "view": "compare"})
    at.run()
    assert_clean(at)
    assert at.session_state["language"] == "fr" and at.session_state["view_tab"] == "Comparer"
    assert "Que voit le réseau ?" in page_text(at)
    assert at.query_params["lang"] in ("fr", ["fr"])  # the URL keeps the language
    at = new_app()
    at.query_params.update({"lang": "de", "view": "compare"})
    at.run()
    assert_clean(at)
    warnings = [str(w.value) for w in at.warning]
    assert any(text.startswith("Parts of this link were ignored") and "'lang'" in text for text in warnings), warnings
    assert at.session_state["view_tab"] == "Compare" and "What does the network see?" in page_text(at)


def test_the_browser_language_is_followed(monkeypatch):
    class Context:
        locale = "fr-CA"

    monkeypatch.setattr(i18n.st, "context", Context())
    assert i18n.browser_language() == "fr"
    Context.locale = "de-DE"
    assert i18n.browser_language() == "en"
    Context.locale = None
    assert i18n.browser_language() == "en"


def test_the_english_recipe_descriptions_are_the_recipes_own():
    """The sidebar describes a recipe from the catalogue; in English that is config's description, word for word
    (a recipe's change of stop or averaging shows in both)."""
    from shapes_viz.config import RECIPES

    described = i18n.catalogue("en")
    assert {f"sidebar.recipe_description.{name}" for name in RECIPES} <= set(described)
    for name, recipe in RECIPES.items():
        key = f"sidebar.recipe_description.{name}"
        if key in described:
            assert described[key] == recipe.description, name
