"""The regions to process: one fan-out item per line of the regions file."""


def regions() -> list[str]:
    return ["north", "south", "east", "west", "central"]
