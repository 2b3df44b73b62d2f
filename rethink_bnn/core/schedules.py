"""What both front ends' `Linear` schedule declares (each computes it with its Keras'
ops): plain Python."""

__all__ = ["LinearRamp"]


class LinearRamp:
    """From `start` at step 0 linearly to `end` at step `steps`, then `end`; up or down.

    Keras' PolynomialDecay computes (start − end)(1 − p) + end in float32, which is exact
    near the end of a decay but not at the start of a ramp up across orders of magnitude:
    a rate ramped from 1e-7 to 1e-2 would start at 9.97e-8. Here the small end is the
    base of the sum (start + (end − start) p going up, end + (start − end)(1 − p) going
    down), so both ends come out as given, in float32 (which any accelerator runs).
    """

    def __init__(self, start, end, steps, name=None):
        super().__init__()
        if not steps >= 1:
            raise ValueError(f"Linear needs steps >= 1, got {steps}.")
        self.start, self.end, self.steps, self.name = float(start), float(end), int(steps), name

    def get_config(self):
        return {"start": self.start, "end": self.end, "steps": self.steps, "name": self.name}
