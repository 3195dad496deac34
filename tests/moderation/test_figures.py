"""The registry: figure_add with reference photos, imports from CSV and JSONL, the commands."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from common.errors import InvalidRequest
from moderation.images.faces import EMBEDDING_MODEL
from moderation.models import AuditLogEntry, FigureFace, PublicFigure
from moderation.services.figures import ReferencePhoto, figure_add, figures_import
from tests.moderation import image_samples
from tests.moderation.process_helpers import make_staff

pytestmark = pytest.mark.django_db


def test_the_migration_loaded_the_starter_registry() -> None:
    assert PublicFigure.objects.count() >= 1000
    swift = PublicFigure.objects.get(name="Taylor Swift")
    assert "Swift" in swift.ambiguous_aliases and "Tay Tay" in swift.aliases


def test_a_figure_is_added_with_a_reference_face() -> None:
    staff = make_staff()
    figure = figure_add(
        name="Astronaut Reference",
        aliases=["The Reference Astronaut"],
        ambiguous_aliases=["Collins"],
        category="astronaut",
        photos=[
            ReferencePhoto(image=image_samples.astronaut_reference_crop(), source_name="crop.png")
        ],
        actor=staff,
    )
    face = FigureFace.objects.get(figure=figure)
    assert len(face.embedding) == 128
    assert (face.embedding_model, face.source_name) == (EMBEDDING_MODEL, "crop.png")
    assert figure.ambiguous_aliases == ["Collins"]
    entry = AuditLogEntry.objects.get(action="figure.add", target_id=str(figure.pk))
    assert entry.actor == staff and entry.details["photos"] == 1


def test_adding_again_merges_aliases_and_keeps_one_row() -> None:
    figure_add(name="Merge Example", aliases=["Alias One"])
    figure = figure_add(name="Merge  Example", aliases=["Alias One", "Alias Two"])
    assert PublicFigure.objects.filter(name="Merge Example").count() == 1
    assert figure.aliases == ["Alias One", "Alias Two"]


def test_a_photo_without_a_face_is_refused_and_nothing_is_written() -> None:
    before = (PublicFigure.objects.count(), FigureFace.objects.count())
    with pytest.raises(InvalidRequest, match="cat.png: found no face") as raised:
        figure_add(
            name="Nobody New",
            photos=[
                ReferencePhoto(
                    image=image_samples.astronaut_reference_crop(), source_name="ok.png"
                ),
                ReferencePhoto(image=image_samples.cat(), source_name="cat.png"),
            ],
        )
    assert "exactly one face" in raised.value.message
    assert (PublicFigure.objects.count(), FigureFace.objects.count()) == before


def test_a_photo_with_two_faces_is_refused() -> None:
    from PIL import Image

    one = image_samples.astronaut_reference_crop().resize((300, 300))
    other = image_samples.grace_hopper().resize((300, 300))
    both = Image.new("RGB", (600, 300))
    both.paste(one, (0, 0))
    both.paste(other, (300, 0))
    with pytest.raises(InvalidRequest, match="found 2 faces"):
        figure_add(name="Two Faces", photos=[ReferencePhoto(image=both, source_name="pair.png")])
    assert not PublicFigure.objects.filter(name="Two Faces").exists()


@pytest.mark.parametrize("bad", ["", "   ", "!!!", "x" * 201])
def test_a_bad_name_is_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        figure_add(name=bad)


def test_import_from_jsonl_is_idempotent_and_merges_aliases(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "figures.jsonl"
    rows = [
        {"name": "Import Person One", "aliases": ["IP One"], "category": "actor"},
        {"itemLabel": "Import Person Two", "item": "http://www.wikidata.org/entity/Q123"},
        {"name": "Taylor Swift", "aliases": ["Swiftie Queen"]},
        {"aliases": ["no name here"]},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\nnot json\n")
    out, err = io.StringIO(), io.StringIO()

    call_command("figures", "import", str(path), stdout=out, stderr=err)
    again = io.StringIO()
    call_command(
        "figures", "import", str(path), "--no-progress", stdout=again, stderr=io.StringIO()
    )

    assert "created 2, updated 1, skipped 2" in out.getvalue()
    assert "created 0, updated 0, skipped 2" in again.getvalue()
    assert "Importing figures" in err.getvalue()  # the progress bar
    assert "line 5 is not valid JSON" in err.getvalue()
    assert PublicFigure.objects.get(name="Import Person Two").external_id == "Q123"
    swift = PublicFigure.objects.get(name="Taylor Swift")
    assert "Tay Tay" in swift.aliases and "Swiftie Queen" in swift.aliases


def test_import_from_csv(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "figures.csv"
    path.write_text(
        "name,aliases,ambiguous_aliases,category\nCsv Person,Csv P;The Csv,Csvy,politician\n"
    )
    call_command("figures", "import", str(path), "--no-progress", stdout=io.StringIO())
    figure = PublicFigure.objects.get(name="Csv Person")
    assert (figure.aliases, figure.ambiguous_aliases, figure.category) == (
        ["Csv P", "The Csv"],
        ["Csvy"],
        "politician",
    )


def test_import_of_many_rows_in_batches() -> None:
    result = figures_import(rows=({"name": f"Batch Person {i}"} for i in range(2500)))
    assert (result.created, result.updated, result.skipped) == (2500, 0, 0)
    assert PublicFigure.objects.filter(name__startswith="Batch Person ").count() == 2500


def test_import_of_a_missing_or_unknown_file_fails_cleanly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="no such file"):
        call_command("figures", "import", str(tmp_path / "missing.jsonl"))
    (tmp_path / "figures.xlsx").write_text("x")
    with pytest.raises(CommandError, match="use a .csv, .tsv or .jsonl file"):
        call_command("figures", "import", str(tmp_path / "figures.xlsx"))


def test_the_add_command_stores_photos_and_refuses_a_faceless_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    face, cat = tmp_path / "face.png", tmp_path / "cat.png"
    image_samples.astronaut_reference_crop().save(face)
    image_samples.cat().save(cat)
    out = io.StringIO()

    call_command(
        "figures", "add", "Command Person", "--alias", "C. Person", "--photo", str(face), stdout=out
    )

    assert "Command Person" in out.getvalue() and "1 reference faces" in out.getvalue()
    with pytest.raises(CommandError, match="cat.png: found no face"):
        call_command("figures", "add", "Cat Person", "--photo", str(cat))
    assert not PublicFigure.objects.filter(name="Cat Person").exists()
    with pytest.raises(CommandError, match="no such file"):
        call_command("figures", "add", "Ghost", "--photo", str(tmp_path / "ghost.png"))


def test_the_migrations_added_scripts_roles_and_deceased_figures() -> None:
    trump = PublicFigure.objects.get(name="Donald Trump")
    assert "Дональд Трамп" in trump.aliases and "特朗普" in trump.aliases
    assert "45th president of the United States" in trump.roles
    francis = PublicFigure.objects.get(name="Pope Francis")
    assert francis.died_year == 2025 and francis.is_active
    assert PublicFigure.objects.filter(died_year__isnull=False).count() >= 50


def test_a_wikidata_export_brings_native_names_roles_and_dates_of_death(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "export.csv"
    path.write_text(
        "item,itemLabel,itemDescription,dateOfDeath,label_ru,label_zh,label_ja\n"
        "http://www.wikidata.org/entity/Q999001,Orla Quennevik,Prime Minister of Freedonia,"
        "2024-03-05T00:00:00Z,Орла Кенневик,奥拉·奎内维克,オーラ・クエネヴィク\n",
        encoding="utf-8",
    )
    from moderation.services.figures import figures_read_file

    rows, total = figures_read_file(path)
    result = figures_import(rows=rows, total=total)
    assert (result.created, result.skipped) == (1, 0)
    figure = PublicFigure.objects.get(name="Orla Quennevik")
    assert figure.external_id == "Q999001" and figure.died_year == 2024
    assert figure.roles == ["Prime Minister of Freedonia"]
    assert set(figure.aliases) == {"Орла Кенневик", "奥拉·奎内维克", "オーラ・クエネヴィク"}
    from moderation.text.normalise import variants
    from moderation.text.registry import figure_matcher

    match = figure_matcher().find(variants("奥拉·奎内维克在公园"))
    assert match is not None and match.name == "Orla Quennevik"


def test_a_bad_year_of_death_skips_the_row_with_a_reason(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = [{"name": "Nobody Known", "died": "last spring"}]
    result = figures_import(rows=rows)
    assert result.skipped == 1 and "not a year of death" in result.errors[0]
    assert not PublicFigure.objects.filter(name="Nobody Known").exists()
