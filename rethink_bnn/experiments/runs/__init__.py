"""Run folders: what each task and tool writes where (`layout`), the claim, check and
overwrite of a folder (`folder`), its lock (`lock`), checkpoints (`checkpoints`), and
whole-or-nothing file writes (`files`)."""
