"""Device adapters (ENR-2, ENR-3, ACC-3): ID-card reader and USB key over PC/SC, camera and faces over OpenCV.

`id_card_reader` (the `CardReader` protocol and its PC/SC backend) and `usb_key` talk to smart
cards through `pcsc`; the card formats and refusal codes they share with the agent and the web
live in `domain.id_card` and `domain.usb_key`. docs/devices.md has the APDU exchanges.
"""
