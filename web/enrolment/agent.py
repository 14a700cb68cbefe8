"""What the enrolment page says for each answer of the local device agent (ID card reader, camera and
liveness check), and the words of the head movements it asks for."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from domain.face import FaceRefusal
from domain.id_card import IdCardRefusal

from ..auth.usb_key import agent_messages as usb_agent_messages

def agent_messages() -> dict[str, str]:
    """What the enrolment page says for each answer of the device agent (`kind.code`)."""
    messages = {key: value for key, value in usb_agent_messages().items() if not key.startswith("usb_key.")}
    messages["agent_failed"] = _("The device agent did not answer as expected. Try again.")
    no_reader = _("No ID card reader is connected to this PC. Connect the reader and try again.")
    card = {
        IdCardRefusal.NO_READER: no_reader,
        IdCardRefusal.READER_NOT_FOUND: no_reader,
        IdCardRefusal.NO_CARD: _("No card is on the reader. Place the ID card on the reader and try again."),
        IdCardRefusal.CARD_REMOVED: _("The card was removed while it was read. Leave it on the reader and try again."),
        IdCardRefusal.NOT_AN_ID_CARD: _("The card on the reader is not a resident ID card."),
        IdCardRefusal.READ_FAILED: _("The card could not be read. Try again, or use another reader."),
        IdCardRefusal.MALFORMED_BLOCK: _("The card's data is damaged or incomplete. Read the card again."),
        IdCardRefusal.RESIDENCE_PERMIT: _("Residence permits for Hong Kong, Macao and Taiwan residents are not "
                                          "supported yet. Enrol the worker with a resident ID card."),
        IdCardRefusal.FOREIGN_PERMANENT_RESIDENCE: _("Foreigners' permanent residence cards are not supported yet."),
        IdCardRefusal.UNKNOWN_CARD_TYPE: _("This card type is not supported: only resident ID cards are."),
        IdCardRefusal.EXPIRED: _("The ID card has expired: the worker needs a valid ID card."),
        IdCardRefusal.NOT_YET_VALID: _("The ID card is not valid yet."),
    }
    invalid = _("The card's data is not valid (name, gender, ethnic group, dates, issuer or ID number). "
                "The card may be damaged or forged: check it.")
    for code in IdCardRefusal:
        messages[f"id_card.{code}"] = card.get(code, invalid)
    no_camera = _("No camera is available to the device agent. Connect the camera and try again.")
    again = _("Please try again and follow the instructions.")
    face = {
        FaceRefusal.CAMERA_UNAVAILABLE: no_camera,
        FaceRefusal.SOURCE_ENDED: no_camera,
        FaceRefusal.NO_FACE: _("No face is visible. Look straight at the camera."),
        FaceRefusal.MULTIPLE_FACES: _("More than one face is visible. Only the worker may be in the picture."),
        FaceRefusal.FACE_TOO_SMALL: _("The face is too small. Come closer to the camera."),
        FaceRefusal.TOO_DARK: _("The picture is too dark. Turn on more light."),
        FaceRefusal.TOO_BRIGHT: _("The picture is too bright. Move out of direct light."),
        FaceRefusal.BLURRED: _("The picture is blurred. Hold still and clean the lens."),
        FaceRefusal.STATIC_IMAGE: _("The camera shows a still image. A live person must stand in front of it."),
        FaceRefusal.FACE_CHANGED: _("The face changed during the check. The same person must stay in front of "
                                    "the camera."),
        FaceRefusal.MODEL_FILE_MISSING: _("The face model of the device agent is missing. Ask the operator."),
        FaceRefusal.TEMPLATE_INVALID: _("The face could not be captured. Try again."),
    }
    for code in FaceRefusal:
        messages[f"face.{code}"] = face.get(code, again)
    messages["card_read"] = _("Card read: %(id)s. Check the name before you go on.", id="{id}")
    messages["face_captured"] = _("Face captured and checked as live.")
    messages["face_prompt"] = _("Ask the worker to follow the movements: %(moves)s", moves="{moves}")
    return messages


CHALLENGE_WORDS = {"turn_left": _l("turn the head left"), "turn_right": _l("turn the head right"),
                   "look_up": _l("look up"), "look_down": _l("look down")}
