"""Dataset presets: the real domain and class folder names of the standard DG benchmarks.

A preset turns a wrong ROOT into an immediate, precise error. Names are compared after
normalisation (case, spaces, hyphens and underscores), so DomainBed's ``Real World`` and
Dassl's ``real_world`` both match OfficeHome. Adding a dataset = one ``PRESETS.register`` call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fixclr.registry import Registry


def normalise(name: str) -> str:
    """Folder name in comparable form: lower case, runs of space/hyphen/underscore as one ``_``."""
    return re.sub(r"[\s_-]+", "_", name.strip().lower())


@dataclass(frozen=True)
class Preset:
    """Expected domain and class folder names of one dataset, and its default image side."""

    domains: tuple[str, ...]
    classes: tuple[str, ...]
    image_size: int = 224

    def mismatches(self, found_domains: list[str], found_classes: list[str]) -> list[str]:
        """Problems (empty when the found folders match this preset)."""
        problems = []
        if sorted(map(normalise, found_domains)) != sorted(map(normalise, self.domains)):
            problems.append(
                f"expected {len(self.domains)} domains {', '.join(self.domains)}; "
                f"found {len(found_domains)}: {', '.join(found_domains)}"
            )
        expected = {normalise(c): c for c in self.classes}
        found = {normalise(c): c for c in found_classes}
        missing = [c for k, c in expected.items() if k not in found]
        unexpected = [c for k, c in found.items() if k not in expected]
        if missing or unexpected:
            problems.append(
                f"expected {len(self.classes)} classes; missing: {', '.join(missing) or '-'}; "
                f"unexpected: {', '.join(unexpected) or '-'}"
            )
        return problems


PRESETS: Registry[Preset] = Registry("dataset preset")


def _register(name: str, domains: str, classes: str, image_size: int = 224) -> None:
    PRESETS.register(name)(Preset(tuple(domains.split(",")), tuple(classes.split()), image_size))


DIGIT_CLASSES = "0 1 2 3 4 5 6 7 8 9"
DEMO_DOMAINS = ("mono", "color", "photo", "rotated")
DEMO6_DOMAINS = DEMO_DOMAINS + ("outline", "noisy")

_register("PACS", "art_painting,cartoon,photo,sketch", "dog elephant giraffe guitar horse house person")
_register("VLCS", "Caltech101,LabelMe,SUN09,VOC2007", "bird car chair dog person")
_register(
    "OfficeHome",
    "Art,Clipart,Product,Real World",
    """
    Alarm_Clock Backpack Batteries Bed Bike Bottle Bucket Calculator Calendar Candles Chair
    Clipboards Computer Couch Curtains Desk_Lamp Drill Eraser Exit_Sign Fan File_Cabinet Flipflops
    Flowers Folder Fork Glasses Hammer Helmet Kettle Keyboard Knives Lamp_Shade Laptop Marker
    Monitor Mop Mouse Mug Notebook Oven Pan Paper_Clip Pen Pencil Postit_Notes Printer Push_Pin
    Radio Refrigerator Ruler Scissors Screwdriver Shelf Sink Sneakers Soda Speaker Spoon TV Table
    Telephone ToothBrush Toys Trash_Can Webcam
    """,
)
_register(
    "TerraIncognita",
    "location_100,location_38,location_43,location_46",
    "bird bobcat cat coyote dog empty opossum rabbit raccoon squirrel",
)
_register("Digits-DG", "mnist,mnist_m,svhn,syn", DIGIT_CLASSES, image_size=32)
_register("digits-dg-mini", ",".join(DEMO_DOMAINS), DIGIT_CLASSES, image_size=32)
_register("digits-dg-mini6", ",".join(DEMO6_DOMAINS), DIGIT_CLASSES, image_size=32)
_register(
    "DomainNet",
    "clipart,infograph,painting,quickdraw,real,sketch",
    """
    aircraft_carrier airplane alarm_clock ambulance angel animal_migration ant anvil apple arm
    asparagus axe backpack banana bandage barn baseball baseball_bat basket basketball bat
    bathtub beach bear beard bed bee belt bench bicycle binoculars bird birthday_cake
    blackberry blueberry book boomerang bottlecap bowtie bracelet brain bread bridge broccoli
    broom bucket bulldozer bus bush butterfly cactus cake calculator calendar camel camera
    camouflage campfire candle cannon canoe car carrot castle cat ceiling_fan cello cell_phone
    chair chandelier church circle clarinet clock cloud coffee_cup compass computer cookie
    cooler couch cow crab crayon crocodile crown cruise_ship cup diamond dishwasher
    diving_board dog dolphin donut door dragon dresser drill drums duck dumbbell ear elbow
    elephant envelope eraser eye eyeglasses face fan feather fence finger fire_hydrant
    fireplace firetruck fish flamingo flashlight flip_flops floor_lamp flower flying_saucer
    foot fork frog frying_pan garden garden_hose giraffe goatee golf_club grapes grass guitar
    hamburger hammer hand harp hat headphones hedgehog helicopter helmet hexagon hockey_puck
    hockey_stick horse hospital hot_air_balloon hot_dog hot_tub hourglass house house_plant
    hurricane ice_cream jacket jail kangaroo key keyboard knee knife ladder lantern laptop leaf
    leg light_bulb lighter lighthouse lightning line lion lipstick lobster lollipop mailbox map
    marker matches megaphone mermaid microphone microwave monkey moon mosquito motorbike
    mountain mouse moustache mouth mug mushroom nail necklace nose ocean octagon octopus onion
    oven owl paintbrush paint_can palm_tree panda pants paper_clip parachute parrot passport
    peanut pear peas pencil penguin piano pickup_truck picture_frame pig pillow pineapple pizza
    pliers police_car pond pool popsicle postcard potato power_outlet purse rabbit raccoon
    radio rain rainbow rake remote_control rhinoceros rifle river roller_coaster rollerskates
    sailboat sandwich saw saxophone school_bus scissors scorpion screwdriver sea_turtle see_saw
    shark sheep shoe shorts shovel sink skateboard skull skyscraper sleeping_bag smiley_face
    snail snake snorkel snowflake snowman soccer_ball sock speedboat spider spoon spreadsheet
    square squiggle squirrel stairs star steak stereo stethoscope stitches stop_sign stove
    strawberry streetlight string_bean submarine suitcase sun swan sweater swing_set sword
    syringe table teapot teddy-bear telephone television tennis_racquet tent The_Eiffel_Tower
    The_Great_Wall_of_China The_Mona_Lisa tiger toaster toe toilet tooth toothbrush toothpaste
    tornado tractor traffic_light train tree triangle trombone truck trumpet t-shirt umbrella
    underwear van vase violin washing_machine watermelon waterslide whale wheel windmill
    wine_bottle wine_glass wristwatch yoga zebra zigzag
    """,
)
