"""Which language identifier extract uses: accuracy and speed on page-like text.

extract detects a page's language from its title, meta description and the alt
texts of its candidates (what WARC and WAT inputs both carry), so the samples
here are that kind of text: short, title-like and caption-like, 40-200 chars.

Run with any interpreter that has the candidates installed; missing ones are
skipped (lingua and py3langid are not project dependencies):

    python bench/extract_langid.py
"""

from __future__ import annotations

import time

SAMPLES: dict[str, list[str]] = {
    "en": [
        "Best hiking trails in the Lake District | A walker standing on a rocky ridge at sunset",
        "Homemade sourdough bread recipe. A golden loaf cooling on a wire rack next to a bowl of flour",
        "City council approves new bike lanes downtown. Cyclists waiting at a red light on Main Street",
        "Our team at the annual conference. Two women presenting a chart to a small audience",
        "Vintage cars on display at the museum. A red convertible from the fifties with chrome bumpers",
        "How to repot a monstera plant. Hands pressing soil around the roots of a large green plant",
    ],
    "de": [
        "Die schönsten Wanderwege im Schwarzwald | Ein Wanderer auf einem Felsen bei Sonnenuntergang",
        "Rezept für selbstgebackenes Sauerteigbrot. Ein goldenes Brot kühlt auf einem Gitter ab",
        "Stadtrat beschließt neue Radwege in der Innenstadt. Radfahrer warten an einer roten Ampel",
        "Unser Team auf der Jahreskonferenz. Zwei Frauen zeigen einem kleinen Publikum ein Diagramm",
        "Oldtimer im Museum ausgestellt. Ein rotes Cabrio aus den Fünfzigern mit Chromstoßstangen",
        "So topfen Sie eine Monstera um. Hände drücken Erde um die Wurzeln einer großen Pflanze",
    ],
    "fr": [
        "Les plus beaux sentiers de randonnée des Alpes | Un randonneur sur une crête au coucher du soleil",
        "Recette de pain au levain maison. Une miche dorée refroidit sur une grille à côté de la farine",
        "Le conseil municipal approuve de nouvelles pistes cyclables. Des cyclistes attendent au feu rouge",
        "Notre équipe lors de la conférence annuelle. Deux femmes présentent un graphique au public",
        "Voitures anciennes exposées au musée. Un cabriolet rouge des années cinquante avec des chromes",
        "Comment rempoter une monstera. Des mains tassent la terre autour des racines d'une grande plante",
    ],
    "es": [
        "Las mejores rutas de senderismo de los Pirineos | Un excursionista en una cresta al atardecer",
        "Receta de pan de masa madre casero. Una hogaza dorada se enfría sobre una rejilla",
        "El ayuntamiento aprueba nuevos carriles bici en el centro. Ciclistas esperan en un semáforo",
        "Nuestro equipo en la conferencia anual. Dos mujeres presentan un gráfico a un público pequeño",
        "Coches antiguos expuestos en el museo. Un descapotable rojo de los años cincuenta",
        "Cómo trasplantar una costilla de Adán. Unas manos presionan la tierra alrededor de las raíces",
    ],
    "it": [
        "I più bei sentieri delle Dolomiti | Un escursionista su una cresta rocciosa al tramonto",
        "Ricetta del pane con lievito madre fatto in casa. Una pagnotta dorata si raffredda sulla griglia",
        "Il consiglio comunale approva nuove piste ciclabili in centro. Ciclisti fermi al semaforo rosso",
        "La nostra squadra alla conferenza annuale. Due donne presentano un grafico a un piccolo pubblico",
        "Auto d'epoca esposte al museo. Una decappottabile rossa degli anni cinquanta con paraurti cromati",
        "Come rinvasare una monstera. Mani che premono il terriccio intorno alle radici di una pianta",
    ],
    "pt": [
        "As melhores trilhas da Serra da Estrela | Um caminhante numa crista rochosa ao pôr do sol",
        "Receita de pão de fermentação natural caseiro. Um pão dourado arrefece numa grelha",
        "Câmara municipal aprova novas ciclovias no centro. Ciclistas esperam num semáforo vermelho",
        "A nossa equipa na conferência anual. Duas mulheres apresentam um gráfico a uma pequena plateia",
        "Carros antigos expostos no museu. Um descapotável vermelho dos anos cinquenta com para-choques",
        "Como mudar uma costela-de-adão de vaso. Mãos a pressionar a terra à volta das raízes",
    ],
    "nl": [
        "De mooiste wandelroutes op de Veluwe | Een wandelaar op een heuveltop bij zonsondergang",
        "Recept voor zelfgebakken zuurdesembrood. Een goudbruin brood koelt af op een rooster",
        "Gemeenteraad keurt nieuwe fietspaden in het centrum goed. Fietsers wachten voor een rood licht",
        "Ons team op de jaarlijkse conferentie. Twee vrouwen presenteren een grafiek aan een klein publiek",
        "Oldtimers tentoongesteld in het museum. Een rode cabriolet uit de jaren vijftig met chromen bumpers",
        "Hoe verpot je een monstera. Handen drukken aarde aan rond de wortels van een grote plant",
    ],
    "ru": [
        "Лучшие туристические маршруты Алтая | Турист на скалистом хребте на закате",
        "Рецепт домашнего хлеба на закваске. Золотистая буханка остывает на решётке",
        "Городской совет одобрил новые велодорожки в центре. Велосипедисты ждут на красный свет",
        "Наша команда на ежегодной конференции. Две женщины показывают график небольшой аудитории",
        "Старинные автомобили в музее. Красный кабриолет пятидесятых годов с хромированными бамперами",
        "Как пересадить монстеру. Руки приминают землю вокруг корней большого растения",
    ],
    "pl": [
        "Najpiękniejsze szlaki turystyczne w Tatrach | Turysta na skalnej grani o zachodzie słońca",
        "Przepis na domowy chleb na zakwasie. Złocisty bochenek stygnie na kratce obok mąki",
        "Rada miasta zatwierdza nowe ścieżki rowerowe w centrum. Rowerzyści czekają na czerwonym świetle",
        "Nasz zespół na dorocznej konferencji. Dwie kobiety przedstawiają wykres niewielkiej publiczności",
        "Zabytkowe samochody na wystawie w muzeum. Czerwony kabriolet z lat pięćdziesiątych",
        "Jak przesadzić monsterę. Dłonie dociskają ziemię wokół korzeni dużej rośliny",
    ],
    "sv": [
        "De vackraste vandringslederna i fjällen | En vandrare på en klippig ås i solnedgången",
        "Recept på hembakat surdegsbröd. En gyllene limpa svalnar på ett galler bredvid mjölet",
        "Kommunfullmäktige godkänner nya cykelbanor i centrum. Cyklister väntar vid rött ljus",
        "Vårt team på den årliga konferensen. Två kvinnor visar ett diagram för en liten publik",
        "Veteranbilar utställda på museet. En röd cabriolet från femtiotalet med kromade stötfångare",
        "Så planterar du om en monstera. Händer trycker till jorden runt rötterna på en stor växt",
    ],
    "tr": [
        "Kaçkar Dağları'ndaki en güzel yürüyüş rotaları | Gün batımında kayalık bir sırtta yürüyüşçü",
        "Ev yapımı ekşi mayalı ekmek tarifi. Altın rengi bir somun telin üzerinde soğuyor",
        "Belediye meclisi şehir merkezinde yeni bisiklet yollarını onayladı. Bisikletliler kırmızı ışıkta bekliyor",
        "Yıllık konferanstaki ekibimiz. İki kadın küçük bir izleyici grubuna grafik sunuyor",
        "Müzede sergilenen klasik arabalar. Krom tamponlu ellili yıllardan kırmızı bir üstü açık araba",
        "Deve tabanı bitkisi nasıl saksı değiştirilir. Eller büyük bir bitkinin köklerinin etrafına toprak bastırıyor",
    ],
    "ja": [
        "北アルプスのおすすめ登山ルート | 夕暮れの岩稜に立つ登山者",
        "自家製サワードウブレッドのレシピ。網の上で冷ましている黄金色のパン",
        "市議会が中心部の新しい自転車レーンを承認。赤信号で待つ自転車の人たち",
        "年次カンファレンスでの私たちのチーム。小さな聴衆にグラフを説明する二人の女性",
        "博物館に展示されたクラシックカー。クロームのバンパーが付いた五十年代の赤いオープンカー",
        "モンステラの植え替え方法。大きな植物の根の周りの土を押さえる手",
    ],
    "zh": [
        "黄山最美的徒步路线 | 日落时站在岩石山脊上的徒步者",
        "自制酸面包的做法。一个金黄色的面包正在烤架上冷却",
        "市议会批准在市中心修建新的自行车道。骑车人在红灯前等待",
        "我们团队在年度会议上。两位女士正在向观众展示一张图表",
        "博物馆展出的老爷车。一辆五十年代的红色敞篷车，带着镀铬保险杠",
        "如何给龟背竹换盆。双手按压大型植物根部周围的泥土",
    ],
    "ar": [
        "أجمل مسارات المشي في جبال الأطلس | متنزه يقف على حافة صخرية عند الغروب",
        "وصفة خبز العجين المخمر في المنزل. رغيف ذهبي يبرد على شبكة بجانب الدقيق",
        "مجلس المدينة يوافق على مسارات جديدة للدراجات في وسط المدينة. راكبو الدراجات ينتظرون عند الإشارة",
        "فريقنا في المؤتمر السنوي. امرأتان تعرضان رسما بيانيا أمام جمهور صغير",
        "سيارات قديمة معروضة في المتحف. سيارة حمراء مكشوفة من الخمسينيات",
        "كيفية نقل نبات المونستيرا إلى أصيص جديد. يدان تضغطان التربة حول جذور نبتة كبيرة",
    ],
}


def _resiliparse():
    from resiliparse.parse.lang import detect_fast

    return lambda text: detect_fast(text)[0]


def _py3langid():
    import py3langid

    return lambda text: py3langid.classify(text)[0]


def _lingua():
    from lingua import LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().build()

    def detect(text: str) -> str:
        lang = detector.detect_language_of(text)
        return lang.iso_code_639_1.name.lower() if lang else "unknown"

    return detect


def main() -> None:
    items = [(lang, text) for lang, texts in SAMPLES.items() for text in texts]
    print(f"{len(items)} samples, {len(SAMPLES)} languages, mean {sum(len(t) for _, t in items) / len(items):.0f} chars")
    for name, make in (("resiliparse.detect_fast", _resiliparse), ("py3langid", _py3langid), ("lingua", _lingua)):
        try:
            t0 = time.perf_counter()
            detect = make()
            detect("warm up the model")
            load = time.perf_counter() - t0
        except ImportError:
            print(f"{name:24s} not installed")
            continue
        right = 0
        misses = []
        t0 = time.perf_counter()
        rounds = 5
        for _ in range(rounds):
            for lang, text in items:
                got = detect(text)
                if _ == 0:
                    right += got == lang
                    if got != lang:
                        misses.append(f"{lang}->{got}")
        per = (time.perf_counter() - t0) / (rounds * len(items))
        print(f"{name:24s} accuracy {right}/{len(items)} = {right / len(items):.1%}  "
              f"{per * 1e6:8.1f} us/text  load {load:.2f}s  misses: {' '.join(misses[:12])}")


if __name__ == "__main__":
    main()
