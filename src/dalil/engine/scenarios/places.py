"""Coordinates of the cities in the national pools, for photos' EXIF GPS.

Keyed by the city's name as the pool writes it (``content/pools/<CC>.yaml``); each entry
gives the city centre (WGS 84, degrees) and other spellings a trainee may use.
"""

from __future__ import annotations

from dalil.engine.scenarios.disk import Place

_TABLE: tuple[tuple[str, float, float, tuple[str, ...]], ...] = (
    # Kazakhstan
    ("Алматы", 43.2389, 76.8897, ("Almaty",)),
    ("Астана", 51.1694, 71.4491, ("Astana", "Nur-Sultan")),
    ("Шымкент", 42.3417, 69.5901, ("Shymkent",)),
    ("Караганда", 49.8047, 73.1094, ("Karaganda", "Qaraghandy")),
    ("Актобе", 50.2839, 57.1670, ("Aktobe", "Aqtobe")),
    ("Павлодар", 52.2873, 76.9674, ("Pavlodar",)),
    ("Усть-Каменогорск", 49.9483, 82.6275, ("Ust-Kamenogorsk", "Oskemen")),
    ("Тараз", 42.9000, 71.3667, ("Taraz",)),
    # Kyrgyzstan
    ("Бишкек", 42.8746, 74.5698, ("Bishkek",)),
    ("Ош", 40.5283, 72.7985, ("Osh",)),
    ("Джалал-Абад", 40.9333, 73.0000, ("Jalal-Abad",)),
    ("Каракол", 42.4907, 78.3936, ("Karakol",)),
    ("Токмок", 42.8420, 75.3015, ("Tokmok",)),
    ("Нарын", 41.4287, 75.9911, ("Naryn",)),
    ("Талас", 42.5228, 72.2427, ("Talas",)),
    ("Баткен", 40.0625, 70.8194, ("Batken",)),
    # Tajikistan
    ("Душанбе", 38.5598, 68.7870, ("Dushanbe",)),
    ("Худжанд", 40.2826, 69.6222, ("Khujand",)),
    ("Бохтар", 37.8364, 68.7803, ("Bokhtar",)),
    ("Куляб", 37.9146, 69.7845, ("Kulob", "Kulyab")),
    ("Истаравшан", 39.9108, 69.0064, ("Istaravshan",)),
    ("Турсунзаде", 38.5108, 68.2303, ("Tursunzoda",)),
    ("Вахдат", 38.5563, 69.0135, ("Vahdat",)),
    ("Хорог", 37.4897, 71.5531, ("Khorog",)),
    # Turkmenistan
    ("Aşgabat", 37.9601, 58.3261, ("Ashgabat", "Ашхабад")),
    ("Türkmenabat", 39.0733, 63.5786, ("Turkmenabat", "Туркменабат")),
    ("Daşoguz", 41.8363, 59.9666, ("Dashoguz", "Дашогуз")),
    ("Mary", 37.5938, 61.8303, ("Мары",)),
    ("Balkanabat", 39.5108, 54.3671, ("Балканабат",)),
    ("Türkmenbaşy", 40.0222, 52.9552, ("Turkmenbashi", "Туркменбаши")),
    ("Tejen", 37.3786, 60.5062, ("Теджен",)),
    ("Bäherden", 38.4362, 57.4316, ("Baherden", "Бахарден")),
    # Uzbekistan
    ("Toshkent", 41.2995, 69.2401, ("Tashkent", "Ташкент")),
    ("Samarqand", 39.6542, 66.9597, ("Samarkand", "Самарканд")),
    ("Buxoro", 39.7747, 64.4286, ("Bukhara", "Бухара")),
    ("Namangan", 40.9983, 71.6726, ("Наманган",)),
    ("Andijon", 40.7821, 72.3442, ("Andijan", "Андижан")),
    ("Farg'ona", 40.3864, 71.7864, ("Fergana", "Фергана")),
    ("Qarshi", 38.8606, 65.7891, ("Karshi", "Карши")),
    ("Nukus", 42.4531, 59.6103, ("Нукус",)),
)

PLACES: dict[str, Place] = {name: Place(name, lat, lon, aliases)
                            for name, lat, lon, aliases in _TABLE}


def places_for(cities: tuple[str, ...] | list[str]) -> tuple[Place, ...]:
    """The known places among ``cities``, in their order (unknown names are skipped)."""
    return tuple(PLACES[c] for c in cities if c in PLACES)
