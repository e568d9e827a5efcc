"""A demonstration academy: users for every role, and a training case with real evidence.

`dalil demo` (and `make run`) call :func:`seed_demo`. Running it again resets the demo
passwords (printed again, since only their hashes are stored) and changes nothing else.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from dalil.app.accounts.models import Institution, Role, User
from dalil.app.cases import services
from dalil.app.cases.models import Case, Exhibit

ACADEMY = "Academy of the Ministry of Internal Affairs, Almaty"
CASE_NUMBER = "DEMO-KZ-2026-001"
CLASS_NAME = "Demo class: course 1, first responders"
DEMO_LAB = "first-responder-scene"

# username, first name, last name, role
PEOPLE = [
    ("trainee", "Aigerim", "Nurlanovna", Role.TRAINEE),
    ("trainer", "Daulet", "Serikbayev", Role.TRAINER),
    ("examiner", "Marat", "Amanov", Role.EXAMINER),
    ("prosecutor", "Saule", "Zhakupova", Role.PROSECUTOR),
    ("coordinator", "Timur", "Kassymov", Role.COORDINATOR),
    ("admin", "Gulnara", "Iskakova", Role.ADMINISTRATOR),
]

logger = logging.getLogger(__name__)

SEIZED_AT = dt.datetime(2026, 3, 2, 10, 40, tzinfo=dt.UTC)


def seed_demo() -> list[tuple[str, str, str]]:
    """Create (or refresh) the demo academy; return (username, password, role) per user."""
    academy, _ = Institution.objects.get_or_create(
        name=ACADEMY, defaults={"country": "KZ", "kind": "academy"})
    logins: list[tuple[str, str, str]] = []
    users: dict[str, User] = {}
    for username, first, last, role in PEOPLE:
        user, _ = User.objects.get_or_create(username=username, defaults={
            "first_name": first, "last_name": last, "role": role, "institution": academy,
            "email": f"{username}@academy.example",
        })
        password = secrets.token_urlsafe(9)
        user.set_password(password)
        if role == Role.ADMINISTRATOR:
            user.is_staff = user.is_superuser = True
        user.save()
        users[username] = user
        logins.append((username, password, str(role.label)))
    _seed_case(academy, users["examiner"])
    _seed_class(users["trainer"], users["trainee"])
    return logins


def _seed_class(trainer: User, trainee: User) -> None:
    """A class with the demo trainee enrolled and the first-responder lab ready to work.

    The variant is generated here rather than left to the worker, so that the lab is
    there at the first login; the queued job then finds nothing left to do.
    """
    from dalil.app.training import services as training
    from dalil.app.training.models import TrainingClass, Variant

    klass = TrainingClass.objects.filter(name=CLASS_NAME).first()
    if klass is None:
        klass = training.create_class(trainer, name=CLASS_NAME, course=1, language="en",
                                      classroom="Room 204, Almaty academy")
    training.enrol(klass, [trainee], user=trainer)
    if not klass.assignments.filter(template=DEMO_LAB).exists():
        try:
            training.assign_lab(klass, DEMO_LAB, user=trainer)
        except training.TrainingError as exc:
            logger.warning("demo: the lab was not assigned: %s", exc)
            return
    for variant in Variant.objects.filter(assignment__training_class=klass,
                                          status=Variant.Status.PENDING):
        training.generate_variant(variant)


def _seed_case(academy: Institution, examiner: User) -> Case:
    actor = services.actor_name(examiner)
    case = Case.objects.filter(number=CASE_NUMBER).first()
    if case is None:
        case = services.create_case(
            number=CASE_NUMBER, title="Training: phishing ring selling stolen bank cards",
            actor=actor, user=examiner, institution=academy, kind=Case.Kind.TRAINING,
            offence="Fraud using computer systems (Criminal Code of the RK, art. 190 part 2)",
            authority_type=Case.AuthorityType.WARRANT, authority_identifier="W-2026/0142",
            authority_issuer="Investigating judge, Almaly district court of Almaty",
            authority_scope="Search of the flat at Abay ave. 10, apt 5, and seizure of "
                            "computers, phones and storage media",
            authority_valid_from=dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC),
            authority_valid_until=dt.datetime(2026, 3, 8, 18, 0, tzinfo=dt.UTC),
            jurisdiction="KZ",
        )
    if not case.scenes.exists():
        services.save_scene(case, {
            "location": "Abay ave. 10, apt 5, Almaty",
            "authority_reference": "W-2026/0142 shown to the occupant",
            "arrival_at": dt.datetime(2026, 3, 2, 10, 5, tzinfo=dt.UTC),
            "persons_present": "A. Bekov, occupant\nSgt. M. Amanov, first responder\n"
                               "Two attesting witnesses",
            "scene_secured": True,
            "scene_secured_how": "Occupant moved away from the devices; door guarded",
            "photographs_taken": True,
            "volatile_decision": "none",
        }, actor)
    _seed_exhibits(case, actor)
    return case


def _seed_exhibits(case: Case, actor: str) -> None:
    existing = set(case.exhibits.values_list("number", flat=True))
    common: dict[str, Any] = {"seized_by": "Sgt. M. Amanov", "seized_at": SEIZED_AT,
              "seized_where": "Abay ave. 10, apt 5, Almaty"}
    if "E1" not in existing:
        phone = services.add_exhibit(
            case, number="E1", actor=actor, type="phone", make="Samsung",
            model="Galaxy A52", imei="356938035643809", description="Black smartphone, "
            "cracked screen protector, found on the kitchen table",
            power_state="on", locked=True, battery_percent=64, charging=False,
            network_indicators="4G, Wi-Fi", screen_content="Telegram chat with 'cards_kz'",
            device_clock=SEIZED_AT + dt.timedelta(seconds=95), reference_clock=SEIZED_AT,
            isolation_method="faraday",
            isolation_justification="Powered on and connected: a remote wipe was possible",
            seal_number="S-0001", **common)
        _transfer(case, phone, actor)
    if "E2" not in existing:
        services.add_exhibit(
            case, number="E2", actor=actor, type="laptop", make="Lenovo",
            model="ThinkPad E14", serial="PF-3K2L9Q", power_state="sleep", locked=True,
            description="Grey laptop, lid closed, power LED pulsing (asleep)",
            seal_number="S-0002", **common)
    if "E3" not in existing:
        with tempfile.TemporaryDirectory() as tmp, transaction.atomic():
            image = _usb_image(Path(tmp))
            usb = services.add_exhibit_from_path(
                case, image, number="E3", actor=actor, type="storage", make="Kingston",
                model="DataTraveler 16 GB", serial="KT-77310", power_state="off",
                description="USB stick in the laptop's left port", seal_number="S-0003",
                **common)
            _transfer(case, usb, actor)
            _acquire(case, usb, actor)


def _transfer(case: Case, exhibit: Exhibit, actor: str) -> None:
    services.record_custody(case, exhibit, "transferred", actor, {
        "released_by": "Sgt. M. Amanov", "received_by": "Lt. D. Ivanova",
        "purpose": "forensic examination", "place": "Digital forensics lab, Almaty",
        "seal_intact": True})


def _usb_image(folder: Path) -> Path:
    """A 1 MiB FAT12 volume holding two small files (random bytes if mtools are missing)."""
    path = folder / "usb-stick.img"
    mkfs, mcopy = shutil.which("mkfs.fat"), shutil.which("mcopy")
    if mkfs and mcopy:
        notes = folder / "CARDS.TXT"
        notes.write_text("4400 4301 2345 6789 ; exp 04/27 ; Bekov\n"
                         "wallet bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq\n")
        readme = folder / "README.TXT"
        readme.write_text("Dalil demo: generated training evidence, not real data.\n")
        try:
            subprocess.run([mkfs, "-C", "-n", "KINGSTON", str(path), "1024"], check=True,
                           capture_output=True)
            subprocess.run([mcopy, "-i", str(path), str(notes), str(readme), "::"],
                           check=True, capture_output=True)
            return path
        except (OSError, subprocess.CalledProcessError):
            path.unlink(missing_ok=True)
    # Reproducible filler bytes, not a secret.
    path.write_bytes(random.Random(2026).randbytes(1024 * 1024))  # noqa: S311
    return path


def _acquire(case: Case, usb: Exhibit, actor: str) -> None:
    """Image the USB stick through the acquisition engine, when this installation has it."""
    try:
        from dalil.engine.evidence import acquisition
    except ImportError:
        return
    source = services.blob_store().path_for(usb.files.get().sha256)
    out_dir = Path(settings.DALIL_HOME) / "images" / case.number
    out_dir.mkdir(parents=True, exist_ok=True)
    request = acquisition.AcquisitionRequest(
        source=str(source), out_dir=str(out_dir), basename=f"{usb.number}-usb",
        metadata={"case_number": case.number, "exhibit": usb.number, "examiner": actor})
    try:
        result: dict[str, Any] = acquisition.acquire(request).to_dict()
    except (acquisition.AcquisitionError, ValueError, OSError) as exc:
        logger.warning("demo: the USB stick was not imaged: %s", exc)
        return
    services.record_acquisition(case, usb, result, actor)

