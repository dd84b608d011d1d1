"""`gbatch-asr-demo`: a SenseVoice web UI stand-in for demos and tests of `--check-server`.

It shows the checking mechanism, not recognition quality: it "hears" a take by looking
up what the CosyVoice stand-in recorded saying (`said.SaidLog`), see demo_server.py.
"""
