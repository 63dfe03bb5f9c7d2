"""How NGOs write things: dates, violation cells, narratives, pseudonyms and planted personal data.

Month names and vocabulary labels come from the contracts, so the synthetic files use exactly
the spellings the workbench is meant to understand. Every phone number, e-mail address and
name below is made up; the numbers use reserved-looking blocks (``000``) and the e-mail
addresses the reserved ``example.org`` domain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import numpy as np

from workbench.contracts import ContractSet, Vocabulary

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
TIMES = ("05:40", "07:15", "09:30", "11:50", "13:05", "16:20", "18:45", "22:10")
VIOLATION_SEPARATOR = "; "

NARRATIVES_EN: dict[str, tuple[str, ...]] = {
    "airstrike": (
        "At about {time} a {weapon} hit a residential block in {place}. Local responders reported {killed} dead and "
        "{injured} injured, most of them women and children, and two buildings collapsed.",
        "Aircraft struck the neighbourhood near the main bakery of {place} around {time}; {killed} people were killed "
        "and {injured} wounded according to the local medical point.",
    ),
    "shelling": (
        "Fire from {weapon} hit the central market of {place} around {time}, killing {killed} and injuring {injured}. "
        "Shops and a public water point were destroyed.",
        "Several {weapon} rounds landed on homes in {place} shortly after {time}; {killed} killed and {injured} injured.",
    ),
    "detention": (
        "A man was arrested at a checkpoint at the entrance of {place} and taken to an unknown facility. His family has "
        "received no information since then.",
        "Security personnel raided homes in {place} before dawn and detained several young men; released detainees "
        "describe beatings during interrogation.",
    ),
    "killing": (
        "Armed men entered {place} at around {time} and shot {killed} civilians, including members of one family; "
        "{injured} others were wounded.",
        "The bodies of {killed} civilians were found on the outskirts of {place} with their hands tied behind their backs.",
    ),
    "abduction": (
        "Residents of {place} were stopped on the road and taken away by armed men; the families were later asked for a ransom.",
        "A group of civilians from {place} was abducted at a makeshift checkpoint and their whereabouts remain unknown.",
    ),
    "siege": (
        "Checkpoints around {place} blocked food and medicine for weeks; {killed} people, mostly elderly, died for lack of care.",
        "Humanitarian convoys were refused entry to {place}; families report eating grass and animal feed.",
    ),
    "chemical": (
        "After a strike on {place} at around {time}, residents reported a strong smell of chlorine; {killed} died of "
        "suffocation and {injured} were treated for breathing problems.",
    ),
    "recruitment": ("Boys from {place} aged between 14 and 17 were taken to a training camp and given weapons.",),
    "sgbv": ("Women held at a facility in {place} described sexual violence during interrogation.",),
}
NARRATIVES_AR: dict[str, tuple[str, ...]] = {
    "airstrike": (
        "في حوالي الساعة {time} أصاب {weapon} مبنى سكنياً في {place}، وأفاد المسعفون بمقتل {killed} وإصابة {injured} معظمهم من النساء والأطفال.",
        "استهدف الطيران حياً قرب الفرن الرئيسي في {place}، ما أدى إلى مقتل {killed} شخصاً وجرح {injured} بحسب النقطة الطبية.",
    ),
    "shelling": (
        "سقطت قذائف على السوق المركزي في {place} قرابة الساعة {time}، ما أسفر عن مقتل {killed} وإصابة {injured} وتدمير محال تجارية.",
        "سقطت عدة قذائف على منازل المدنيين في {place} فقُتل {killed} وأصيب {injured}.",
    ),
    "detention": (
        "اعتُقل شاب على حاجز عند مدخل {place} ونُقل إلى جهة مجهولة، ولم تتلق عائلته أي معلومات عنه منذ ذلك الحين.",
        "داهمت عناصر أمنية منازل في {place} قبل الفجر واعتقلت عدداً من الشبان، وتحدث معتقلون مفرج عنهم عن ضرب أثناء التحقيق.",
    ),
    "killing": (
        "دخل مسلحون {place} قرابة الساعة {time} وأطلقوا النار على {killed} مدنيين بينهم أفراد من عائلة واحدة، وجُرح {injured} آخرون.",
        "عُثر على جثث {killed} مدنيين في أطراف {place} وأيديهم مقيدة.",
    ),
    "abduction": ("أوقف مسلحون سكاناً من {place} على الطريق واقتادوهم إلى جهة مجهولة، ثم طلبوا فدية من عائلاتهم.",),
    "siege": ("منعت الحواجز المحيطة بـ{place} دخول الغذاء والدواء لأسابيع، وتوفي {killed} أشخاص معظمهم من كبار السن.",),
    "chemical": ("بعد استهداف {place} قرابة الساعة {time} أفاد السكان برائحة كلور قوية، وتوفي {killed} اختناقاً وعولج {injured} من ضيق التنفس.",),
    "recruitment": ("اقتيد فتيان من {place} تتراوح أعمارهم بين 14 و17 عاماً إلى معسكر تدريب وسُلّموا أسلحة.",),
    "sgbv": ("تحدثت نساء احتُجزن في مكان احتجاز في {place} عن عنف جنسي أثناء التحقيق.",),
}
WEAPONS_AR = {"barrel bomb": "برميل متفجر", "air-dropped bomb": "قنبلة جوية", "guided missile": "صاروخ موجه",
              "artillery": "قذيفة مدفعية", "mortar": "قذيفة هاون", "unguided rockets": "صاروخ غير موجه"}  # fmt: skip
SOURCE_DESCRIPTIONS = {
    "video": "Video of the aftermath filmed by a local media activist",
    "photograph": "Photographs of the damaged buildings",
    "testimony": "Statement of a witness, interviewed remotely",
    "interview_transcript": "Transcript of an interview with a released detainee",
    "document": "Copy of a transfer order",
    "social_media_post": "Post by a local news page",
    "news_report": "Report by a regional news outlet",
    "open_source_report": "Report of a monitoring group",
    "satellite_image": "Satellite image before and after",
    "medical_record": "Record of the field hospital",
    "forensic_report": "Report of a forensic doctor",
}
SOURCE_DESCRIPTIONS_AR = {"video": "فيديو صوّره ناشط إعلامي محلي", "photograph": "صور للمباني المتضررة",
                          "testimony": "إفادة شاهد عن بعد", "interview_transcript": "نص مقابلة مع معتقل مفرج عنه",
                          "document": "نسخة من أمر نقل", "social_media_post": "منشور لصفحة إخبارية محلية",
                          "news_report": "تقرير لوسيلة إعلام إقليمية", "open_source_report": "تقرير لمجموعة رصد",
                          "satellite_image": "صورة أقمار صناعية قبل وبعد", "medical_record": "سجل المشفى الميداني",
                          "forensic_report": "تقرير طبيب شرعي"}  # fmt: skip
FAKE_FIRST_NAMES = ("Karim", "Omar", "Rami", "Fadi")
FAKE_LAST_NAMES = ("Placeholder", "Sample", "Testcase", "Example")
FAKE_NAMES_AR = ("سامي تجريبي", "كريم مثال", "عمر افتراضي")  # after اسمه (his name): men's names
#: Kinds of personal data planted in narratives, in the order they are cycled through.
PII_KINDS = ("phone_syria", "phone_turkey", "phone_lebanon", "email", "name_en", "name_ar", "name_title", "name_role_en",
             "name_role_ar")


class Texts:
    """Month names and vocabulary labels of one contract set, and the renderers that use them."""

    def __init__(self, contracts: ContractSet):
        months = contracts.vocabulary("months").terms
        self.month_en = {int(t.code[1:]): t.label["en"] for t in months}
        self.month_ar = {int(t.code[1:]): t.label["ar"] for t in months}
        self.contracts = contracts

    def vocabulary(self, name: str) -> Vocabulary:
        return self.contracts.vocabulary(name)

    def label(self, vocabulary: str, code: str, style: str) -> str:
        """A vocabulary code as an NGO writes it: "code", "en" or "ar" (the label)."""
        return code if style == "code" else self.vocabulary(vocabulary).label(code, style)

    def date(self, style: str, day: dt.date, precision: str, rng: np.random.Generator) -> str | dt.date:
        """A date (or its month or year, by ``precision``) in one NGO's habit."""
        y, m, d = day.year, day.month, day.day
        if precision == "year":
            return str(y)
        if style == "iso":
            return f"{y}-{m:02d}" if precision == "month" else day.isoformat()
        if style in ("arabic", "arabic_digits"):
            if precision == "month":
                text = f"{self.month_ar[m]} {y}"
            else:
                text = str(rng.choice([f"{d} {self.month_ar[m]} {y}", f"{d} {self.month_ar[m]} {y}م", f"{d:02d}/{m:02d}/{y}"], p=[0.6, 0.2, 0.2]))
            return text.translate(ARABIC_INDIC) if style == "arabic_digits" else text
        if style == "excel_mixed":
            if precision == "month":
                return f"{self.month_en[m]} {y}"
            return day if rng.random() < 0.7 else f"{d:02d}/{m:02d}/{y}"
        if style == "month_first":
            return f"{m:02d}/{y}" if precision == "month" else f"{m:02d}/{d:02d}/{y}"
        if style == "english":
            if precision == "month":
                return f"{self.month_en[m]} {y}"
            return f"{d} {self.month_en[m]} {y}" if rng.random() < 0.6 else f"{self.month_en[m]} {d}, {y}"
        raise ValueError(f"unknown date style {style!r}")

    def violations(self, codes: tuple[str, ...], style: str, rng: np.random.Generator) -> list[str]:
        """Each violation code written as a code or an English or Arabic label, in one NGO's mix."""
        mix = {
            "codes": (0.85, 0.15, 0.0),
            "arabic": (0.1, 0.0, 0.9),
            "english": (0.1, 0.8, 0.1),
            "mixed": (0.34, 0.33, 0.33),
            "lower": (0.5, 0.5, 0.0),
        }[style]
        written = []
        for code in codes:
            form = str(rng.choice(["code", "en", "ar"], p=mix))
            text = self.label("violation_types", code, form)
            written.append(text.lower() if style == "lower" and form == "en" else text)
        return written

    def narrative(self, scenario: str, variant: int, *, place: str, killed: int, injured: int, weapon: str | None, language: str) -> str:
        """A redacted account of one incident (no names, no contact details)."""
        templates = (NARRATIVES_AR if language == "ar" else NARRATIVES_EN)[scenario]
        weapon = weapon or ("برميل متفجر" if language == "ar" else "bomb")
        weapon = WEAPONS_AR.get(weapon, weapon) if language == "ar" else weapon
        time = TIMES[variant % len(TIMES)]
        return templates[variant % len(templates)].format(place=place, killed=killed, injured=injured, weapon=weapon, time=time)


def pii_sentence(kind: str, number: int) -> str:
    """An obviously fake piece of personal data, as a sentence to append to a narrative.

    ``number`` counts the plants of one NGO; kinds are cycled, so the wording varies with the
    round (``number // len(PII_KINDS)``), not with ``number`` itself.
    """
    round_ = number // len(PII_KINDS)
    first = FAKE_FIRST_NAMES[round_ % len(FAKE_FIRST_NAMES)]
    last = FAKE_LAST_NAMES[(round_ + PII_KINDS.index(kind)) % len(FAKE_LAST_NAMES)]
    sentences = {
        "phone_syria": f"The witness can be reached on +963 944 000 {100 + number % 900:03d}.",
        "phone_turkey": f"His brother in Gaziantep answers on +90 532 000 {number % 100:02d} {(number * 7) % 100:02d}.",
        "phone_lebanon": f"A relative in Beirut can be called on +961 3 000 {100 + number % 900:03d}.",
        "email": f"More details from informant{number:03d}@example.org.",
        "name_en": f"One of the injured, his name is {first} {last}, was taken to the field hospital.",
        "name_title": f"Mr. {first} {last} filmed the aftermath.",
        "name_ar": f"وقال أحد الشهود اسمه {FAKE_NAMES_AR[round_ % len(FAKE_NAMES_AR)]} إنه رأى ما حدث.",
        "name_role_en": f"The victim {first} {last} was buried the same evening.",
        "name_role_ar": f"ودفن الشهيد {FAKE_NAMES_AR[round_ % len(FAKE_NAMES_AR)]} في المساء.",
    }
    return sentences[kind]


def own_pseudonym(prefix: str, seed: int, ngo_id: str, true_person_id: str) -> str:
    """An NGO's own pseudonym for a person: its prefix and 8 hex digits of a salted hash."""
    digest = hashlib.sha256(f"{seed}|{ngo_id}|{true_person_id}".encode()).hexdigest()
    return f"{prefix}{digest[:8]}"


def shared_pseudonym(seed: int, true_person_id: str) -> str:
    """The keyed pseudonym two NGOs share ("SHK-" + 12 hex digits): same person, same pseudonym."""
    digest = hmac.new(f"synthetic-shared-key-{seed}".encode(), true_person_id.encode(), hashlib.sha256).hexdigest()
    return f"SHK-{digest[:12]}"


def fake_jpeg(rng: np.random.Generator) -> bytes:
    """A few hundred bytes that start and end like a JPEG; not a picture of anything."""
    comment = b"synthetic evidence item, not a real image"
    header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    body = rng.integers(0, 256, size=int(rng.integers(200, 700)), dtype=np.uint8).tobytes().replace(b"\xff", b"\x00")
    return header + segment + body + b"\xff\xd9"
