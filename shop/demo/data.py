"""Word lists the demo catalogue is generated from: categories, brands, sellers, attributes.

Everything is made up (no real brands) and written here, so seeding needs no download.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

# (code, name, position) of the filterable attributes.
ATTRIBUTES = [
    ("colour", "Colour", 1),
    ("size", "Size", 2),
    ("capacity", "Capacity", 3),
    ("material", "Material", 4),
    ("connectivity", "Connectivity", 5),
    ("screen-size", "Screen size", 6),
    ("weight", "Weight", 7),
    ("format", "Format", 8),
    ("language", "Language", 9),
    ("age-range", "Age range", 10),
    ("players", "Players", 11),
]

COLOURS = ["Black", "White", "Silver", "Graphite", "Navy Blue", "Forest Green", "Red", "Sand", "Rose Pink", "Sky Blue"]
APPAREL_SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
SHOE_SIZES = ["5", "6", "7", "8", "9", "10", "11"]


@dataclass(frozen=True)
class Family:
    """Products of a family share brands, attribute choices and description phrases."""

    code: str
    brands: tuple[str, ...]
    attributes: dict[str, tuple[str, ...]]
    phrases: tuple[str, ...]


FAMILIES = {
    "electronics": Family(
        "electronics",
        ("Auralis", "Sonetta", "Voltrix", "Nordwave", "Pixelon", "Keystone Labs", "Lumetra", "Orbitek", "Hexa Audio",
         "Clearframe"),
        {"colour": ("Black", "White", "Silver", "Graphite", "Navy Blue"),
         "connectivity": ("Bluetooth 5.3", "Wired", "USB-C", "Wi-Fi", "Bluetooth and wired")},
        ("Pairs in seconds and remembers up to eight devices.",
         "The battery lasts all day and charges fully in under two hours.",
         "A firmware update over the app adds new features for free.",
         "Comes with a two-year warranty and a travel pouch.",
         "Tuned by audio engineers for clear highs and deep, controlled bass.",
         "Low-latency mode keeps sound in sync with video and games.",
         "Built from recycled aluminium and plastics."),
    ),
    "kitchen": Family(
        "kitchen",
        ("Kitchara", "Brewell", "Copperleaf", "Steelcraft", "Hearth & Co", "Morning Pour"),
        {"colour": ("Black", "White", "Silver", "Red", "Sand", "Forest Green")},
        ("Boils a full jug in about three minutes.",
         "Automatic shut-off and boil-dry protection keep it safe.",
         "The cool-touch handle and lid open with one hand.",
         "Dishwasher-safe parts make cleaning quick.",
         "Keeps water at the temperature you choose for up to an hour.",
         "A concealed element means no limescale traps.",
         "Designed to last for years of daily use."),
    ),
    "home": Family(
        "home",
        ("Lumina Home", "Softnest", "Oakhaven", "Pinecrest"),
        {"colour": ("White", "Sand", "Graphite", "Sky Blue", "Rose Pink", "Forest Green")},
        ("Warm, dimmable light sets the mood in any room.",
         "Soft to the touch and easy to wash.",
         "Fits modern and classic interiors alike.",
         "Energy-efficient LED, rated for 25,000 hours.",
         "Hand-finished, so every piece is slightly different."),
    ),
    "books": Family(
        "books",
        ("Lanternfly Press", "Northgate Books", "Paper Crane Publishing", "Blue Finch Books"),
        {"format": ("Hardcover", "Paperback", "Large print"),
         "language": ("English", "English", "English", "Spanish", "French")},
        ("A page-turner readers could not put down.",
         "Shortlisted for three literary prizes.",
         "Now with a new afterword by the author.",
         "Perfect for book clubs, with discussion questions at the end.",
         "Beautifully illustrated throughout."),
    ),
    "sports": Family(
        "sports",
        ("Trailmark", "Summit Gear", "FlexCore", "Ironpeak", "Zenstretch"),
        {"colour": ("Black", "Forest Green", "Navy Blue", "Red", "Sky Blue", "Sand")},
        ("Light enough to carry anywhere, tough enough for daily training.",
         "Tested in wind and rain on three continents.",
         "Non-slip surface on both sides.",
         "Packs down small and weighs next to nothing.",
         "Backed by a lifetime guarantee."),
    ),
    "clothing": Family(
        "clothing",
        ("Northloom", "Urban Thread", "Saltmarsh", "Velora", "Stridewell", "Aeroloom"),
        {"colour": COLOURS,
         "material": ("Organic cotton", "Merino wool", "Recycled polyester", "Linen", "Denim")},
        ("Pre-shrunk fabric keeps its shape wash after wash.",
         "Cut for a relaxed, modern fit.",
         "Made in a factory certified for fair wages.",
         "Breathable and soft from the first wear.",
         "Machine washable at 30 degrees."),
    ),
    "toys": Family(
        "toys",
        ("Brickwise", "Puzzlebox", "Meeple & Co", "Tinker Town", "Playforge"),
        {"age-range": ("3+ years", "6+ years", "8+ years", "10+ years", "14+ years"),
         "players": ("1 player", "1-4 players", "2-4 players", "2-6 players")},
        ("Hours of screen-free fun for the whole family.",
         "Easy to learn in five minutes, hard to master.",
         "Every piece is made from sustainably sourced materials.",
         "A favourite of teachers and parents alike.",
         "Includes a storage box for every part."),
    ),
}


@dataclass(frozen=True)
class Leaf:
    """A category products are listed in, with what its products are called and cost."""

    slug: str
    name: str
    parent: str
    family: str
    nouns: tuple[str, ...]
    features: tuple[str, ...]
    price: tuple[int, int]
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # on top of the family's
    weight: float = 1.0


# (slug, name, parent slug) of the upper levels, parents first.
BRANCHES = [
    ("electronics", "Electronics", None),
    ("audio", "Audio", "electronics"),
    ("computers", "Computers", "electronics"),
    ("home-kitchen", "Home & Kitchen", None),
    ("kitchen", "Kitchen", "home-kitchen"),
    ("home-decor", "Home Decor", "home-kitchen"),
    ("books", "Books", None),
    ("sports-outdoors", "Sports & Outdoors", None),
    ("fitness", "Fitness", "sports-outdoors"),
    ("camping", "Camping", "sports-outdoors"),
    ("clothing", "Clothing", None),
    ("mens-clothing", "Men's Clothing", "clothing"),
    ("womens-clothing", "Women's Clothing", "clothing"),
    ("toys-games", "Toys & Games", None),
]

LEAVES = [
    Leaf("headphones", "Headphones", "audio", "electronics",
         ("Over-Ear Headphones", "On-Ear Headphones", "Noise Cancelling Headphones", "Studio Headphones"),
         ("Wireless", "Foldable", "Hi-Res", "Lightweight"), (29, 349)),
    Leaf("earbuds", "Earbuds", "audio", "electronics",
         ("True Wireless Earbuds", "Sport Earbuds", "In-Ear Monitors"),
         ("Waterproof", "Noise Cancelling", "Compact", "Long-Battery"), (19, 249)),
    Leaf("speakers", "Speakers", "audio", "electronics",
         ("Bluetooth Speaker", "Bookshelf Speakers", "Portable Speaker", "Soundbar"),
         ("Waterproof", "Smart", "Rugged", "360-Degree"), (25, 499)),
    Leaf("laptops", "Laptops", "computers", "electronics",
         ("Laptop", "Ultrabook", "Gaming Laptop", "2-in-1 Laptop"),
         ("Thin and Light", "Performance", "Everyday", "Creator"), (399, 2499),
         {"screen-size": ('13.3"', '14"', '15.6"', '16"', '17.3"')}),
    Leaf("keyboards", "Keyboards", "computers", "electronics",
         ("Mechanical Keyboard", "Wireless Keyboard", "Compact Keyboard", "Ergonomic Keyboard"),
         ("Backlit", "Low-Profile", "Silent", "Hot-Swappable"), (19, 199)),
    Leaf("monitors", "Monitors", "computers", "electronics",
         ("Monitor", "Curved Monitor", "4K Monitor", "Portable Monitor"),
         ("IPS", "144 Hz", "Ultra-Wide", "Eye-Care"), (99, 899),
         {"screen-size": ('15.6"', '24"', '27"', '32"', '34"')}),
    Leaf("kettles", "Kettles", "kitchen", "kitchen",
         ("Electric Kettle", "Gooseneck Electric Kettle", "Glass Electric Kettle", "Stovetop Kettle",
          "Travel Electric Kettle"),
         ("Cordless", "Rapid-Boil", "Temperature Control", "Quiet-Boil"), (19, 149),
         {"capacity": ("0.8 L", "1.0 L", "1.5 L", "1.7 L", "2.0 L"),
          "material": ("Stainless steel", "Glass", "BPA-free plastic", "Brushed steel")}, 1.6),
    Leaf("coffee-makers", "Coffee Makers", "kitchen", "kitchen",
         ("Coffee Maker", "Espresso Machine", "French Press", "Pour-Over Coffee Set", "Cold Brew Maker"),
         ("Programmable", "Compact", "Barista", "Thermal"), (19, 699),
         {"capacity": ("0.35 L", "0.6 L", "1.0 L", "1.25 L", "1.8 L"),
          "material": ("Stainless steel", "Glass", "BPA-free plastic")}),
    Leaf("cookware", "Cookware", "kitchen", "kitchen",
         ("Frying Pan", "Saucepan", "Dutch Oven", "Wok", "Cookware Set"),
         ("Non-Stick", "Induction-Ready", "Oven-Safe", "Tri-Ply"), (15, 399),
         {"size": ("20 cm", "24 cm", "28 cm", "30 cm", "10-piece"),
          "material": ("Cast iron", "Stainless steel", "Copper", "Ceramic-coated aluminium")}),
    Leaf("lamps", "Lamps", "home-decor", "home",
         ("Table Lamp", "Floor Lamp", "Desk Lamp", "Reading Lamp"),
         ("Dimmable", "Minimalist", "Smart", "Vintage"), (19, 299),
         {"material": ("Brass", "Ceramic", "Oak wood", "Matte steel")}),
    Leaf("cushions", "Cushions & Throws", "home-decor", "home",
         ("Throw Pillow", "Cushion Cover Set", "Floor Cushion", "Knitted Throw"),
         ("Chunky", "Boho", "Reversible", "Embroidered"), (9, 129),
         {"size": ("40 x 40 cm", "45 x 45 cm", "50 x 50 cm", "130 x 170 cm"),
          "material": ("Linen", "Cotton", "Velvet", "Chunky knit")}),
    Leaf("fiction", "Fiction", "books", "books", ("Novel",), ("Bestselling",), (8, 35)),
    Leaf("non-fiction", "Non-fiction", "books", "books", ("Guide",), ("Essential",), (10, 45)),
    Leaf("childrens-books", "Children's Books", "books", "books", ("Picture Book",), ("Illustrated",), (5, 25)),
    Leaf("yoga-mats", "Yoga Mats", "fitness", "sports",
         ("Yoga Mat", "Travel Yoga Mat", "Exercise Mat"),
         ("Non-Slip", "Extra-Thick", "Eco", "Foldable"), (15, 129),
         {"size": ("4 mm", "6 mm", "8 mm", "10 mm"), "material": ("Natural rubber", "TPE foam", "Cork")}),
    Leaf("dumbbells", "Dumbbells", "fitness", "sports",
         ("Dumbbell Pair", "Adjustable Dumbbell", "Kettlebell"),
         ("Hex", "Rubber-Coated", "Quick-Lock", "Compact"), (19, 399),
         {"weight": ("2 kg", "5 kg", "8 kg", "12 kg", "20 kg", "24 kg"),
          "material": ("Cast iron", "Rubber-coated steel", "Neoprene")}),
    Leaf("tents", "Tents", "camping", "sports",
         ("Dome Tent", "Backpacking Tent", "Family Tent", "Pop-Up Tent"),
         ("Ultralight", "Waterproof", "Four-Season", "Instant"), (49, 699),
         {"capacity": ("1 person", "2 person", "3 person", "4 person", "6 person"),
          "material": ("Ripstop nylon", "Polyester", "Cotton canvas")}),
    Leaf("backpacks", "Backpacks", "camping", "sports",
         ("Hiking Backpack", "Daypack", "Trekking Backpack", "Travel Backpack"),
         ("Lightweight", "Waterproof", "Ventilated", "Convertible"), (25, 299),
         {"capacity": ("20 L", "30 L", "40 L", "55 L", "65 L"),
          "material": ("Ripstop nylon", "Polyester", "Waxed canvas")}),
    Leaf("mens-t-shirts", "Men's T-Shirts", "mens-clothing", "clothing",
         ("Men's T-Shirt", "Men's Crew Neck T-Shirt", "Men's V-Neck T-Shirt", "Men's Henley"),
         ("Classic", "Slim-Fit", "Everyday", "Heavyweight"), (9, 59), {"size": APPAREL_SIZES}),
    Leaf("mens-jackets", "Men's Jackets", "mens-clothing", "clothing",
         ("Men's Rain Jacket", "Men's Puffer Jacket", "Men's Denim Jacket", "Men's Fleece Jacket"),
         ("Packable", "Insulated", "Windproof", "Water-Resistant"), (39, 349),
         {"size": APPAREL_SIZES, "material": ("Recycled polyester", "Denim", "Fleece", "Nylon")}),
    Leaf("dresses", "Dresses", "womens-clothing", "clothing",
         ("Women's Midi Dress", "Women's Wrap Dress", "Women's Shirt Dress", "Women's Maxi Dress"),
         ("Floral", "Casual", "Pleated", "Summer"), (19, 189), {"size": APPAREL_SIZES}),
    Leaf("sneakers", "Sneakers", "womens-clothing", "clothing",
         ("Women's Running Shoes", "Women's Canvas Sneakers", "Women's Trail Shoes", "Women's Walking Shoes"),
         ("Cushioned", "Breathable", "Lightweight", "Everyday"), (29, 199),
         {"size": SHOE_SIZES, "material": ("Knit mesh", "Canvas", "Leather", "Recycled polyester")}),
    Leaf("board-games", "Board Games", "toys-games", "toys",
         ("Strategy Board Game", "Family Board Game", "Cooperative Game", "Card Game"),
         ("Award-Winning", "Classic", "Party", "Deluxe"), (12, 89)),
    Leaf("building-sets", "Building Sets", "toys-games", "toys",
         ("Building Set", "Construction Kit", "Robot Building Kit", "Marble Run"),
         ("Creative", "Motorised", "Starter", "Master"), (15, 249)),
    Leaf("puzzles", "Puzzles", "toys-games", "toys",
         ("Jigsaw Puzzle", "3D Puzzle", "Brain Teaser Set", "Floor Puzzle"),
         ("1000-Piece", "500-Piece", "Panoramic", "Glow-in-the-Dark"), (8, 59)),
]

BOOK_WORDS = {
    "adjectives": ("Silent", "Hidden", "Last", "Golden", "Winter", "Forgotten", "Distant", "Burning", "Glass",
                   "Midnight", "Paper", "Wild", "Quiet", "Lost", "Northern"),
    "nouns": ("Garden", "River", "Orchard", "Lighthouse", "Kingdom", "Harbour", "Library", "Mountain", "Letter",
              "Island", "Clockmaker", "Daughter", "Voyage", "Signal", "Winter"),
    "topics": ("Habits", "Cooking", "Money", "Sleep", "Design", "History", "Gardening", "Leadership", "The Brain",
               "Running", "Photography", "Climate", "Mathematics", "Writing"),
    "subtitles": ("A Practical Guide", "What Works and Why", "The Complete Handbook", "Lessons from a Lifetime",
                  "A New History", "Simple Steps for Everyone"),
    "animals": ("Fox", "Bear", "Owl", "Rabbit", "Whale", "Dragon", "Tiger", "Penguin", "Hedgehog", "Otter"),
    "names": ("Milo", "Luna", "Otto", "Ivy", "Finn", "Nora", "Theo", "Ada", "Rosie", "Leo"),
    "authors": ("Amelia Hart", "Jonah Reyes", "Priya Nair", "Tomas Lind", "Grace Okafor", "Henry Walsh",
                "Mei Tanaka", "Lucas Moreau", "Sofia Rossi", "Daniel Brooks"),
}

REVIEW_TITLES = {
    5: ("Excellent", "Love it", "Exactly what I wanted", "Five stars", "Best purchase this year"),
    4: ("Very good", "Really happy with it", "Great value", "Does the job well", "Nice quality"),
    3: ("It's okay", "Decent for the price", "Mixed feelings", "Average", "Fine, not amazing"),
    2: ("Disappointing", "Not as described", "Expected more", "Quality could be better"),
    1: ("Stopped working", "Would not buy again", "Poor quality", "Returned it"),
}

REVIEW_BODIES = {
    5: ("Arrived quickly and works perfectly. The {noun} feels well made and looks great.",
        "I have used this {noun} every day for a month and it is still like new. Highly recommended.",
        "Bought it as a gift and ended up ordering a second one for myself."),
    4: ("Good {noun} overall. Setup was easy; one small niggle but nothing serious.",
        "Solid quality for the price. I would buy from this brand again.",
        "Does what it says. Took a star off because the packaging was excessive."),
    3: ("The {noun} is fine, but I expected a little more for the price.",
        "Works as expected, nothing special. Delivery was on time.",
        "Some things I like, some I don't. It is an average {noun}."),
    2: ("The {noun} looked cheaper than in the photos.",
        "It works, but not well. Customer service was helpful at least."),
    1: ("Broke after two weeks. Very disappointed with this {noun}.",
        "Did not work out of the box. Sent it back."),
}

FIRST_NAMES = ("Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas", "Mia",
               "Mateo", "Amara", "Kenji", "Fatima", "Arjun", "Chloe", "Diego", "Hannah", "Yusuf")
LAST_NAMES = ("Smith", "Garcia", "Chen", "Johnson", "Patel", "Müller", "Okafor", "Kim", "Novak", "Silva")


@dataclass(frozen=True)
class SellerData:
    slug: str
    name: str
    rating: Decimal
    rating_count: int
    city: str
    description: str
    merchant_share: float  # share of its offers it ships itself (the rest is fulfilled by Bazaar)
    used_share: float  # share of its offers that are refurbished or used


SELLERS = [
    SellerData("northwind-traders", "Northwind Traders", Decimal("4.70"), 1843, "Seattle",
               "Electronics and home goods since 2009.", 0.6, 0.1),
    SellerData("blue-harbor-goods", "Blue Harbor Goods", Decimal("4.40"), 912, "Portland",
               "Everyday essentials at fair prices.", 0.5, 0.05),
    SellerData("maple-and-main", "Maple & Main", Decimal("4.85"), 3120, "Burlington",
               "Kitchen and home, picked by people who cook.", 0.7, 0.0),
    SellerData("quickship-outlet", "QuickShip Outlet", Decimal("3.90"), 455, "Dallas",
               "Overstock and clearance deals.", 0.3, 0.15),
    SellerData("second-life-refurbished", "Second Life Refurbished", Decimal("4.30"), 677, "Denver",
               "Tested, cleaned and guaranteed refurbished and used items.", 0.8, 0.9),
    SellerData("cedar-lane-home", "Cedar Lane Home", Decimal("4.60"), 1204, "Asheville",
               "Hand-picked decor, textiles and lighting.", 0.6, 0.0),
    SellerData("gadget-grove", "Gadget Grove", Decimal("4.10"), 2210, "San Jose",
               "Gadgets, accessories and the latest tech.", 0.4, 0.1),
]

# The delivery promise's clock of each centre: its time zone and order cutoff.
CENTRE_CLOCKS = {"fc-east": ("America/New_York", "14:00"), "fc-central": ("America/Chicago", "13:00"),
                 "fc-west": ("America/Los_Angeles", "12:00")}
# Days nobody ships (general holidays; the promise skips them like weekends), and a carrier's own.
HOLIDAYS = [("2026-11-26", "Thanksgiving", ""), ("2026-12-25", "Christmas Day", ""),
            ("2027-01-01", "New Year's Day", ""), ("2026-12-24", "Christmas Eve (test carrier closed)", "test")]

PLATFORM_WAREHOUSES = [
    ("fc-east", "Bazaar Fulfilment Centre East", "Newark"),
    ("fc-central", "Bazaar Fulfilment Centre Central", "Columbus"),
    ("fc-west", "Bazaar Fulfilment Centre West", "Reno"),
]
# Where sellers send their boxes (street, state, ZIP code): made-up addresses in those cities.
CENTRE_ADDRESSES = {"fc-east": ("400 Dock Road", "NJ", "07114"), "fc-central": ("2200 Freight Way", "OH", "43217"),
                    "fc-west": ("9 Sierra Park Drive", "NV", "89506")}
