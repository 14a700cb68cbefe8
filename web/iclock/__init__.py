"""The ZKTeco PUSH endpoints (/iclock/…, ATT-6) for off-the-shelf face terminals; docs/zkteco.md."""
