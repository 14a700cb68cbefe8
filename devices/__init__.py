"""Device adapters (ENR-2, ENR-3, ACC-3): ID-card reader and USB key over PC/SC, camera and faces over OpenCV.

Built with the enrolment and device issues; the package exists so the layout of DESIGN.md holds.
"""
