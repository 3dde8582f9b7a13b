/* core/audience/synth.c - the synthetic audience generator behind `herald generate`.
 *
 * Every row is generated from its own PRNG stream, seeded from (seed, row
 * index): the output never depends on how many draws earlier rows made, so
 * tuning one share does not reshuffle the whole file, and a duplicate-id row
 * can look up an earlier row's category without replaying the file. The
 * exclusion category of a row (malformed, outside, duplicate, objected,
 * minor, clean) comes from a separate hash of the same pair for that reason.
 *
 * Speed matters more than elegance here (10M-row benchmark files): rows are
 * formatted by hand straight into a large output buffer that is flushed with
 * fwrite, and nothing is allocated per row.
 */
#include "herald/synth.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "herald/region.h"

/* ---- names ---------------------------------------------------------------
 *
 * First and family names per language, with the ASCII transliteration used
 * to build email addresses. Six of each are enough to make demos look
 * lived-in and to put non-ASCII letters (and non-Latin scripts) through every
 * stage. Family names that change with gender (Polish, Czech, Baltic, Greek,
 * Icelandic, Irish, ...) carry the female form; the others leave it NULL.
 * Transliterations are lower-case [a-z] only. Sorted by language.
 */

#define SYNTH_NAMES_PER_LIST 6

struct synth_name {
    const char *s; /* display form, UTF-8 */
    const char *a; /* ASCII transliteration, lower case */
};

struct synth_family {
    const char *m, *ma; /* male (or only) form */
    const char *f, *fa; /* female form, NULL when the same */
};

struct synth_names {
    const char *lang;  /* primary language subtag */
    bool family_first; /* Hungarian order: "Nagy Anna" */
    struct synth_name female[SYNTH_NAMES_PER_LIST];
    struct synth_name male[SYNTH_NAMES_PER_LIST];
    struct synth_family family[SYNTH_NAMES_PER_LIST];
};

/* clang-format off */
static const struct synth_names synth_name_tables[] = {
    {.lang = "ar",
     .female = {{"فاطمة", "fatima"}, {"مريم", "maryam"}, {"خديجة", "khadija"},
                {"سلمى", "salma"}, {"ياسمين", "yasmine"}, {"نور", "nour"}},
     .male = {{"محمد", "mohamed"}, {"يوسف", "youssef"}, {"أحمد", "ahmed"},
              {"عمر", "omar"}, {"كريم", "karim"}, {"حمزة", "hamza"}},
     .family = {{"العلوي", "alaoui", NULL, NULL}, {"بنعلي", "benali", NULL, NULL}, {"الإدريسي", "idrissi", NULL, NULL},
                {"التازي", "tazi", NULL, NULL}, {"بناني", "bennani", NULL, NULL}, {"الفاسي", "elfassi", NULL, NULL}}},
    {.lang = "bg",
     .female = {{"Мария", "maria"}, {"Иванка", "ivanka"}, {"Елена", "elena"},
                {"Десислава", "desislava"}, {"Йорданка", "yordanka"}, {"Цветелина", "tsvetelina"}},
     .male = {{"Георги", "georgi"}, {"Иван", "ivan"}, {"Димитър", "dimitar"},
              {"Христо", "hristo"}, {"Стоян", "stoyan"}, {"Николай", "nikolay"}},
     .family = {{"Иванов", "ivanov", "Иванова", "ivanova"},
                {"Петров", "petrov", "Петрова", "petrova"},
                {"Георгиев", "georgiev", "Георгиева", "georgieva"},
                {"Димитров", "dimitrov", "Димитрова", "dimitrova"},
                {"Стоянов", "stoyanov", "Стоянова", "stoyanova"},
                {"Тодоров", "todorov", "Тодорова", "todorova"}}},
    {.lang = "cs",
     .female = {{"Tereza", "tereza"}, {"Eliška", "eliska"}, {"Anežka", "anezka"},
                {"Kateřina", "katerina"}, {"Lucie", "lucie"}, {"Barbora", "barbora"}},
     .male = {{"Jiří", "jiri"}, {"Tomáš", "tomas"}, {"Lukáš", "lukas"},
              {"Petr", "petr"}, {"Vojtěch", "vojtech"}, {"Jan", "jan"}},
     .family = {{"Novák", "novak", "Nováková", "novakova"},
                {"Dvořák", "dvorak", "Dvořáková", "dvorakova"},
                {"Svoboda", "svoboda", "Svobodová", "svobodova"},
                {"Černý", "cerny", "Černá", "cerna"},
                {"Procházka", "prochazka", "Procházková", "prochazkova"},
                {"Kučera", "kucera", "Kučerová", "kucerova"}}},
    {.lang = "da",
     .female = {{"Freja", "freja"}, {"Ida", "ida"}, {"Mette", "mette"},
                {"Sørine", "sorine"}, {"Sofie", "sofie"}, {"Bodil", "bodil"}},
     .male = {{"Søren", "soren"}, {"Mads", "mads"}, {"Anders", "anders"},
              {"Jørgen", "jorgen"}, {"Frederik", "frederik"}, {"Rasmus", "rasmus"}},
     .family = {{"Jensen", "jensen", NULL, NULL}, {"Nielsen", "nielsen", NULL, NULL}, {"Hansen", "hansen", NULL, NULL},
                {"Sørensen", "sorensen", NULL, NULL}, {"Mølgaard", "molgaard", NULL, NULL}, {"Østergaard", "ostergaard", NULL, NULL}}},
    {.lang = "de",
     .female = {{"Anna", "anna"}, {"Lena", "lena"}, {"Käthe", "kaethe"},
                {"Marie", "marie"}, {"Sophie", "sophie"}, {"Bärbel", "baerbel"}},
     .male = {{"Jürgen", "juergen"}, {"Lukas", "lukas"}, {"Jörg", "joerg"},
              {"Maximilian", "maximilian"}, {"Stefan", "stefan"}, {"Björn", "bjoern"}},
     .family = {{"Müller", "mueller", NULL, NULL}, {"Schmidt", "schmidt", NULL, NULL}, {"Schäfer", "schaefer", NULL, NULL},
                {"Weiß", "weiss", NULL, NULL}, {"Köhler", "koehler", NULL, NULL}, {"Hoffmann", "hoffmann", NULL, NULL}}},
    {.lang = "el",
     .female = {{"Μαρία", "maria"}, {"Ελένη", "eleni"}, {"Αικατερίνη", "aikaterini"},
                {"Βασιλική", "vasiliki"}, {"Σοφία", "sofia"}, {"Δέσποινα", "despoina"}},
     .male = {{"Γιώργος", "giorgos"}, {"Δημήτρης", "dimitris"}, {"Κωνσταντίνος", "konstantinos"},
              {"Νίκος", "nikos"}, {"Γιάννης", "giannis"}, {"Παναγιώτης", "panagiotis"}},
     .family = {{"Παπαδόπουλος", "papadopoulos", "Παπαδοπούλου", "papadopoulou"},
                {"Παπαδάκης", "papadakis", "Παπαδάκη", "papadaki"},
                {"Γεωργίου", "georgiou", NULL, NULL},
                {"Οικονόμου", "oikonomou", NULL, NULL},
                {"Νικολάου", "nikolaou", NULL, NULL},
                {"Βλάχος", "vlachos", "Βλάχου", "vlachou"}}},
    {.lang = "en",
     .female = {{"Olivia", "olivia"}, {"Amelia", "amelia"}, {"Chloë", "chloe"},
                {"Zoë", "zoe"}, {"Renée", "renee"}, {"Charlotte", "charlotte"}},
     .male = {{"Oliver", "oliver"}, {"George", "george"}, {"Harry", "harry"},
              {"Noah", "noah"}, {"Seán", "sean"}, {"Jack", "jack"}},
     .family = {{"Smith", "smith", NULL, NULL}, {"Jones", "jones", NULL, NULL}, {"Williams", "williams", NULL, NULL},
                {"O'Brien", "obrien", NULL, NULL}, {"Brontë", "bronte", NULL, NULL}, {"Taylor", "taylor", NULL, NULL}}},
    {.lang = "es",
     .female = {{"Lucía", "lucia"}, {"María", "maria"}, {"Sofía", "sofia"},
                {"Paula", "paula"}, {"Begoña", "begona"}, {"Inés", "ines"}},
     .male = {{"José", "jose"}, {"Álvaro", "alvaro"}, {"Hugo", "hugo"},
              {"Martín", "martin"}, {"Pablo", "pablo"}, {"Iñigo", "inigo"}},
     .family = {{"García", "garcia", NULL, NULL}, {"Fernández", "fernandez", NULL, NULL}, {"López", "lopez", NULL, NULL},
                {"Martínez", "martinez", NULL, NULL}, {"Sánchez", "sanchez", NULL, NULL}, {"Muñoz", "munoz", NULL, NULL}}},
    {.lang = "et",
     .female = {{"Mari", "mari"}, {"Kätlin", "katlin"}, {"Liis", "liis"},
                {"Triin", "triin"}, {"Maarja", "maarja"}, {"Merike", "merike"}},
     .male = {{"Jüri", "juri"}, {"Tõnu", "tonu"}, {"Rasmus", "rasmus"},
              {"Märt", "mart"}, {"Priit", "priit"}, {"Andres", "andres"}},
     .family = {{"Tamm", "tamm", NULL, NULL}, {"Saar", "saar", NULL, NULL}, {"Sepp", "sepp", NULL, NULL},
                {"Mägi", "magi", NULL, NULL}, {"Kask", "kask", NULL, NULL}, {"Õunapuu", "ounapuu", NULL, NULL}}},
    {.lang = "fi",
     .female = {{"Aino", "aino"}, {"Helmi", "helmi"}, {"Sini", "sini"},
                {"Päivi", "paivi"}, {"Eveliina", "eveliina"}, {"Hanna", "hanna"}},
     .male = {{"Väinö", "vaino"}, {"Eero", "eero"}, {"Jussi", "jussi"},
              {"Mikko", "mikko"}, {"Jyrki", "jyrki"}, {"Ilkka", "ilkka"}},
     .family = {{"Korhonen", "korhonen", NULL, NULL}, {"Virtanen", "virtanen", NULL, NULL}, {"Mäkinen", "makinen", NULL, NULL},
                {"Nieminen", "nieminen", NULL, NULL}, {"Hämäläinen", "hamalainen", NULL, NULL}, {"Järvinen", "jarvinen", NULL, NULL}}},
    {.lang = "fr",
     .female = {{"Élodie", "elodie"}, {"Camille", "camille"}, {"Chloé", "chloe"},
                {"Léa", "lea"}, {"Margaux", "margaux"}, {"Françoise", "francoise"}},
     .male = {{"François", "francois"}, {"Jérôme", "jerome"}, {"Lucas", "lucas"},
              {"Théo", "theo"}, {"Hugo", "hugo"}, {"Benoît", "benoit"}},
     .family = {{"Dubois", "dubois", NULL, NULL}, {"Lefèvre", "lefevre", NULL, NULL}, {"Moreau", "moreau", NULL, NULL},
                {"Girard", "girard", NULL, NULL}, {"Rousseau", "rousseau", NULL, NULL}, {"Lemaître", "lemaitre", NULL, NULL}}},
    {.lang = "ga",
     .female = {{"Aoife", "aoife"}, {"Siobhán", "siobhan"}, {"Niamh", "niamh"},
                {"Saoirse", "saoirse"}, {"Róisín", "roisin"}, {"Máire", "maire"}},
     .male = {{"Seán", "sean"}, {"Pádraig", "padraig"}, {"Cian", "cian"},
              {"Oisín", "oisin"}, {"Ciarán", "ciaran"}, {"Darragh", "darragh"}},
     .family = {{"Ó Briain", "obriain", "Ní Bhriain", "nibhriain"},
                {"Ó Súilleabháin", "osuilleabhain", "Ní Shúilleabháin", "nishuilleabhain"},
                {"Mac Cárthaigh", "maccarthaigh", "Nic Cárthaigh", "niccarthaigh"},
                {"Ó Ceallaigh", "oceallaigh", "Ní Cheallaigh", "nicheallaigh"},
                {"Breathnach", "breathnach", NULL, NULL},
                {"Ó Murchú", "omurchu", "Ní Mhurchú", "nimhurchu"}}},
    {.lang = "hi",
     .female = {{"प्रिया", "priya"}, {"अनन्या", "ananya"}, {"दीपिका", "deepika"},
                {"पूजा", "pooja"}, {"नेहा", "neha"}, {"कविता", "kavita"}},
     .male = {{"आरव", "aarav"}, {"राहुल", "rahul"}, {"अर्जुन", "arjun"},
              {"विक्रम", "vikram"}, {"अमित", "amit"}, {"रोहन", "rohan"}},
     .family = {{"शर्मा", "sharma", NULL, NULL}, {"वर्मा", "verma", NULL, NULL}, {"गुप्ता", "gupta", NULL, NULL},
                {"सिंह", "singh", NULL, NULL}, {"पटेल", "patel", NULL, NULL}, {"कुमार", "kumar", NULL, NULL}}},
    {.lang = "hr",
     .female = {{"Ivana", "ivana"}, {"Lucija", "lucija"}, {"Mia", "mia"},
                {"Petra", "petra"}, {"Marija", "marija"}, {"Snježana", "snjezana"}},
     .male = {{"Ivan", "ivan"}, {"Luka", "luka"}, {"Matej", "matej"},
              {"Dražen", "drazen"}, {"Željko", "zeljko"}, {"Tomislav", "tomislav"}},
     .family = {{"Horvat", "horvat", NULL, NULL}, {"Kovačević", "kovacevic", NULL, NULL}, {"Babić", "babic", NULL, NULL},
                {"Marić", "maric", NULL, NULL}, {"Jurić", "juric", NULL, NULL}, {"Knežević", "knezevic", NULL, NULL}}},
    {.lang = "hu", .family_first = true,
     .female = {{"Réka", "reka"}, {"Zsófia", "zsofia"}, {"Anna", "anna"},
                {"Eszter", "eszter"}, {"Katalin", "katalin"}, {"Boglárka", "boglarka"}},
     .male = {{"László", "laszlo"}, {"Bence", "bence"}, {"Gergő", "gergo"},
              {"István", "istvan"}, {"Máté", "mate"}, {"Zoltán", "zoltan"}},
     .family = {{"Nagy", "nagy", NULL, NULL}, {"Kovács", "kovacs", NULL, NULL}, {"Tóth", "toth", NULL, NULL},
                {"Szabó", "szabo", NULL, NULL}, {"Horváth", "horvath", NULL, NULL}, {"Kiss", "kiss", NULL, NULL}}},
    {.lang = "is",
     .female = {{"Guðrún", "gudrun"}, {"Sigríður", "sigridur"}, {"Þóra", "thora"},
                {"Anna", "anna"}, {"Helga", "helga"}, {"Ásdís", "asdis"}},
     .male = {{"Jón", "jon"}, {"Sigurður", "sigurdur"}, {"Guðmundur", "gudmundur"},
              {"Þórður", "thordur"}, {"Einar", "einar"}, {"Ólafur", "olafur"}},
     .family = {{"Jónsson", "jonsson", "Jónsdóttir", "jonsdottir"},
                {"Sigurðsson", "sigurdsson", "Sigurðardóttir", "sigurdardottir"},
                {"Guðmundsson", "gudmundsson", "Guðmundsdóttir", "gudmundsdottir"},
                {"Einarsson", "einarsson", "Einarsdóttir", "einarsdottir"},
                {"Ólafsson", "olafsson", "Ólafsdóttir", "olafsdottir"},
                {"Magnússon", "magnusson", "Magnúsdóttir", "magnusdottir"}}},
    {.lang = "it",
     .female = {{"Giulia", "giulia"}, {"Chiara", "chiara"}, {"Francesca", "francesca"},
                {"Sofia", "sofia"}, {"Aurora", "aurora"}, {"Noemi", "noemi"}},
     .male = {{"Niccolò", "niccolo"}, {"Lorenzo", "lorenzo"}, {"Mattia", "mattia"},
              {"Giosuè", "giosue"}, {"Marco", "marco"}, {"Andrea", "andrea"}},
     .family = {{"Rossi", "rossi", NULL, NULL}, {"Bianchi", "bianchi", NULL, NULL}, {"Esposito", "esposito", NULL, NULL},
                {"Romano", "romano", NULL, NULL}, {"Colombo", "colombo", NULL, NULL}, {"D'Angelo", "dangelo", NULL, NULL}}},
    {.lang = "lb",
     .female = {{"Léonie", "leonie"}, {"Chantal", "chantal"}, {"Josée", "josee"},
                {"Martine", "martine"}, {"Nathalie", "nathalie"}, {"Anne", "anne"}},
     .male = {{"Gilles", "gilles"}, {"Jhemp", "jhemp"}, {"Luc", "luc"},
              {"Tom", "tom"}, {"Marc", "marc"}, {"Léon", "leon"}},
     .family = {{"Schmit", "schmit", NULL, NULL}, {"Thill", "thill", NULL, NULL}, {"Weber", "weber", NULL, NULL},
                {"Reuter", "reuter", NULL, NULL}, {"Kieffer", "kieffer", NULL, NULL}, {"Wagner", "wagner", NULL, NULL}}},
    {.lang = "lt",
     .female = {{"Eglė", "egle"}, {"Rūta", "ruta"}, {"Gintarė", "gintare"},
                {"Ieva", "ieva"}, {"Austėja", "austeja"}, {"Kotryna", "kotryna"}},
     .male = {{"Jonas", "jonas"}, {"Mantas", "mantas"}, {"Lukas", "lukas"},
              {"Žygimantas", "zygimantas"}, {"Tomas", "tomas"}, {"Dovydas", "dovydas"}},
     .family = {{"Kazlauskas", "kazlauskas", "Kazlauskienė", "kazlauskiene"},
                {"Jankauskas", "jankauskas", "Jankauskienė", "jankauskiene"},
                {"Petrauskas", "petrauskas", "Petrauskienė", "petrauskiene"},
                {"Stankevičius", "stankevicius", "Stankevičienė", "stankeviciene"},
                {"Vasiliauskas", "vasiliauskas", "Vasiliauskienė", "vasiliauskiene"},
                {"Žukauskas", "zukauskas", "Žukauskienė", "zukauskiene"}}},
    {.lang = "lv",
     .female = {{"Anna", "anna"}, {"Līga", "liga"}, {"Ilze", "ilze"},
                {"Kristīne", "kristine"}, {"Zane", "zane"}, {"Ērika", "erika"}},
     .male = {{"Jānis", "janis"}, {"Andris", "andris"}, {"Mārtiņš", "martins"},
              {"Edgars", "edgars"}, {"Kārlis", "karlis"}, {"Pēteris", "peteris"}},
     .family = {{"Bērziņš", "berzins", "Bērziņa", "berzina"},
                {"Kalniņš", "kalnins", "Kalniņa", "kalnina"},
                {"Ozols", "ozols", "Ozola", "ozola"},
                {"Jansons", "jansons", "Jansone", "jansone"},
                {"Liepa", "liepa", NULL, NULL},
                {"Krūmiņš", "krumins", "Krūmiņa", "krumina"}}},
    {.lang = "mt",
     .female = {{"Maria", "maria"}, {"Rita", "rita"}, {"Doris", "doris"},
                {"Ġużeppina", "guzeppina"}, {"Tereża", "tereza"}, {"Carmen", "carmen"}},
     .male = {{"Ġorġ", "gorg"}, {"Ġużeppi", "guzeppi"}, {"Ċensu", "censu"},
              {"Pawlu", "pawlu"}, {"Mikiel", "mikiel"}, {"Ninu", "ninu"}},
     .family = {{"Borg", "borg", NULL, NULL}, {"Camilleri", "camilleri", NULL, NULL}, {"Vella", "vella", NULL, NULL},
                {"Farrugia", "farrugia", NULL, NULL}, {"Żammit", "zammit", NULL, NULL}, {"Galea", "galea", NULL, NULL}}},
    {.lang = "nl",
     .female = {{"Sanne", "sanne"}, {"Anouk", "anouk"}, {"Eva", "eva"},
                {"Maaike", "maaike"}, {"Zoë", "zoe"}, {"Inès", "ines"}},
     .male = {{"Daan", "daan"}, {"Sem", "sem"}, {"Bram", "bram"},
              {"Joël", "joel"}, {"Pieter", "pieter"}, {"Thijs", "thijs"}},
     .family = {{"de Vries", "devries", NULL, NULL}, {"Jansen", "jansen", NULL, NULL}, {"van den Berg", "vandenberg", NULL, NULL},
                {"Bakker", "bakker", NULL, NULL}, {"Visser", "visser", NULL, NULL}, {"Smit", "smit", NULL, NULL}}},
    {.lang = "no",
     .female = {{"Ingrid", "ingrid"}, {"Solveig", "solveig"}, {"Åse", "ase"},
                {"Kari", "kari"}, {"Nora", "nora"}, {"Sigrid", "sigrid"}},
     .male = {{"Ola", "ola"}, {"Bjørn", "bjorn"}, {"Håkon", "hakon"},
              {"Øyvind", "oyvind"}, {"Lars", "lars"}, {"Magnus", "magnus"}},
     .family = {{"Hansen", "hansen", NULL, NULL}, {"Johansen", "johansen", NULL, NULL}, {"Olsen", "olsen", NULL, NULL},
                {"Bråten", "braten", NULL, NULL}, {"Løvås", "lovas", NULL, NULL}, {"Haugen", "haugen", NULL, NULL}}},
    {.lang = "pl",
     .female = {{"Zofia", "zofia"}, {"Małgorzata", "malgorzata"}, {"Agnieszka", "agnieszka"},
                {"Łucja", "lucja"}, {"Katarzyna", "katarzyna"}, {"Joanna", "joanna"}},
     .male = {{"Łukasz", "lukasz"}, {"Piotr", "piotr"}, {"Paweł", "pawel"},
              {"Krzysztof", "krzysztof"}, {"Wojciech", "wojciech"}, {"Jakub", "jakub"}},
     .family = {{"Nowak", "nowak", NULL, NULL},
                {"Kowalski", "kowalski", "Kowalska", "kowalska"},
                {"Wiśniewski", "wisniewski", "Wiśniewska", "wisniewska"},
                {"Wójcik", "wojcik", NULL, NULL},
                {"Kamiński", "kaminski", "Kamińska", "kaminska"},
                {"Zieliński", "zielinski", "Zielińska", "zielinska"}}},
    {.lang = "pt",
     .female = {{"Beatriz", "beatriz"}, {"Inês", "ines"}, {"Leonor", "leonor"},
                {"Mariana", "mariana"}, {"Conceição", "conceicao"}, {"Lúcia", "lucia"}},
     .male = {{"João", "joao"}, {"Tomás", "tomas"}, {"Gonçalo", "goncalo"},
              {"Rodrigo", "rodrigo"}, {"Afonso", "afonso"}, {"Sebastião", "sebastiao"}},
     .family = {{"Silva", "silva", NULL, NULL}, {"Santos", "santos", NULL, NULL}, {"Gonçalves", "goncalves", NULL, NULL},
                {"Magalhães", "magalhaes", NULL, NULL}, {"Araújo", "araujo", NULL, NULL}, {"Simões", "simoes", NULL, NULL}}},
    {.lang = "ro",
     .female = {{"Ioana", "ioana"}, {"Andreea", "andreea"}, {"Elena", "elena"},
                {"Ștefania", "stefania"}, {"Mihaela", "mihaela"}, {"Bianca", "bianca"}},
     .male = {{"Andrei", "andrei"}, {"Mihai", "mihai"}, {"Ștefan", "stefan"},
              {"Răzvan", "razvan"}, {"Ionuț", "ionut"}, {"Bogdan", "bogdan"}},
     .family = {{"Popescu", "popescu", NULL, NULL}, {"Ionescu", "ionescu", NULL, NULL}, {"Popa", "popa", NULL, NULL},
                {"Rădulescu", "radulescu", NULL, NULL}, {"Dumitrescu", "dumitrescu", NULL, NULL}, {"Stănescu", "stanescu", NULL, NULL}}},
    {.lang = "sk",
     .female = {{"Zuzana", "zuzana"}, {"Ľubica", "lubica"}, {"Katarína", "katarina"},
                {"Veronika", "veronika"}, {"Jana", "jana"}, {"Mária", "maria"}},
     .male = {{"Ján", "jan"}, {"Ľubomír", "lubomir"}, {"Peter", "peter"},
              {"Martin", "martin"}, {"Juraj", "juraj"}, {"Matúš", "matus"}},
     .family = {{"Horváth", "horvath", "Horváthová", "horvathova"},
                {"Kováč", "kovac", "Kováčová", "kovacova"},
                {"Varga", "varga", "Vargová", "vargova"},
                {"Tóth", "toth", "Tóthová", "tothova"},
                {"Nagy", "nagy", "Nagyová", "nagyova"},
                {"Baláž", "balaz", "Balážová", "balazova"}}},
    {.lang = "sl",
     .female = {{"Nina", "nina"}, {"Maša", "masa"}, {"Živa", "ziva"},
                {"Špela", "spela"}, {"Ana", "ana"}, {"Tjaša", "tjasa"}},
     .male = {{"Luka", "luka"}, {"Žiga", "ziga"}, {"Matej", "matej"},
              {"Jure", "jure"}, {"Nejc", "nejc"}, {"Gašper", "gasper"}},
     .family = {{"Novak", "novak", NULL, NULL}, {"Horvat", "horvat", NULL, NULL}, {"Kovačič", "kovacic", NULL, NULL},
                {"Krajnc", "krajnc", NULL, NULL}, {"Zupančič", "zupancic", NULL, NULL}, {"Potočnik", "potocnik", NULL, NULL}}},
    {.lang = "sr",
     .female = {{"Јелена", "jelena"}, {"Милица", "milica"}, {"Ана", "ana"},
                {"Драгана", "dragana"}, {"Снежана", "snezana"}, {"Марија", "marija"}},
     .male = {{"Марко", "marko"}, {"Никола", "nikola"}, {"Стефан", "stefan"},
              {"Душан", "dusan"}, {"Милош", "milos"}, {"Ђорђе", "djordje"}},
     .family = {{"Јовановић", "jovanovic", NULL, NULL}, {"Петровић", "petrovic", NULL, NULL}, {"Николић", "nikolic", NULL, NULL},
                {"Ђорђевић", "djordjevic", NULL, NULL}, {"Илић", "ilic", NULL, NULL}, {"Марковић", "markovic", NULL, NULL}}},
    {.lang = "sv",
     .female = {{"Åsa", "asa"}, {"Ebba", "ebba"}, {"Linnéa", "linnea"},
                {"Maja", "maja"}, {"Ingrid", "ingrid"}, {"Märta", "marta"}},
     .male = {{"Björn", "bjorn"}, {"Oskar", "oskar"}, {"Erik", "erik"},
              {"Åke", "ake"}, {"Nils", "nils"}, {"Göran", "goran"}},
     .family = {{"Andersson", "andersson", NULL, NULL}, {"Johansson", "johansson", NULL, NULL}, {"Lindqvist", "lindqvist", NULL, NULL},
                {"Öberg", "oberg", NULL, NULL}, {"Karlsson", "karlsson", NULL, NULL}, {"Sjöberg", "sjoberg", NULL, NULL}}},
    {.lang = "tr",
     .female = {{"Ayşe", "ayse"}, {"Zeynep", "zeynep"}, {"Elif", "elif"},
                {"Gülşen", "gulsen"}, {"Özlem", "ozlem"}, {"Şule", "sule"}},
     .male = {{"Mehmet", "mehmet"}, {"Mustafa", "mustafa"}, {"Ahmet", "ahmet"},
              {"Oğuz", "oguz"}, {"Çağlar", "caglar"}, {"İbrahim", "ibrahim"}},
     .family = {{"Yılmaz", "yilmaz", NULL, NULL}, {"Kaya", "kaya", NULL, NULL}, {"Demir", "demir", NULL, NULL},
                {"Şahin", "sahin", NULL, NULL}, {"Çelik", "celik", NULL, NULL}, {"Öztürk", "ozturk", NULL, NULL}}},
    {.lang = "uk",
     .female = {{"Олена", "olena"}, {"Оксана", "oksana"}, {"Ірина", "iryna"},
                {"Юлія", "yuliia"}, {"Наталія", "nataliia"}, {"Катерина", "kateryna"}},
     .male = {{"Олександр", "oleksandr"}, {"Андрій", "andrii"}, {"Сергій", "serhii"},
              {"Дмитро", "dmytro"}, {"Тарас", "taras"}, {"Богдан", "bohdan"}},
     .family = {{"Шевченко", "shevchenko", NULL, NULL}, {"Коваленко", "kovalenko", NULL, NULL},
                {"Бондаренко", "bondarenko", NULL, NULL}, {"Ткаченко", "tkachenko", NULL, NULL},
                {"Кравчук", "kravchuk", NULL, NULL}, {"Мельник", "melnyk", NULL, NULL}}},
};
/* clang-format on */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- shares --------------------------------------------------------------
 * All shares are per million rows (categories) or per mille of the rows they
 * apply to; docs/synthetic-audience.md explains each. */

/* Exclusion categories: disjoint, drawn once per row, in this order. */
#define PPM_MALFORMED 5000u
#define PPM_OUTSIDE 20000u
#define PPM_DUPLICATE 1000u
#define PPM_OBJECTED 10000u
#define PPM_MINOR 60000u

#define PM_NO_LANGUAGE 20u      /* no language at all */
#define PM_FOREIGN_LANGUAGE 30u /* a language from outside the region */
#define PCT_REGION_SUBTAG 25u   /* "de-AT" rather than "de" */
#define PCT_NO_EMAIL 10u
#define PCT_NO_PUSH 15u
#define PCT_NO_TIME_ZONE 20u
#define PM_IDN_DOMAIN 10u     /* of addresses */
#define PM_NON_ASCII_LOCAL 2u /* of addresses */
#define PM_NO_NAME 20u
#define PM_NAME_COMMA 5u     /* "Family, First": a comma to quote in CSV */
#define PM_NAME_QUOTE 1u     /* First "Nick" Family: a quote to escape */
#define PCT_MINOR_EDGE 5u    /* of minors: 18 tomorrow */
#define PM_ADULT_EDGE 1u     /* of adults: 18 today */
#define PCT_COUNTRY_LOWER 1u /* "de": codes are case-insensitive */
#define PCT_GB_AS_UK 10u     /* "UK": the alias people write */

enum category { CAT_CLEAN, CAT_MALFORMED, CAT_OUTSIDE, CAT_DUPLICATE, CAT_OBJECTED, CAT_MINOR };

/* Languages of the multilingual countries, per mille; a language of the
 * country missing here gets LANG_PM_UNLISTED. Countries not listed: the
 * main language 85%, the others share the rest. */
#define LANG_PM_MAIN 850u
#define LANG_PM_UNLISTED 5u
static const struct {
    char cc[3];
    char lang[4];
    unsigned pm;
} lang_shares[] = {
    {"BE", "nl", 600}, {"BE", "fr", 390}, {"BE", "de", 10},  {"FI", "fi", 950}, {"FI", "sv", 50},
    {"IE", "en", 970}, {"IE", "ga", 30},  {"LU", "fr", 500}, {"LU", "de", 300}, {"LU", "lb", 200},
    {"CY", "el", 900}, {"CY", "tr", 100}, {"NO", "nb", 600}, {"NO", "no", 300}, {"NO", "nn", 100},
    {"CH", "de", 630}, {"CH", "fr", 230}, {"CH", "it", 140}, {"CA", "en", 780}, {"CA", "fr", 220},
    {"US", "en", 870}, {"US", "es", 130}, {"MA", "ar", 650}, {"MA", "fr", 350}, {"IN", "hi", 450},
    {"IN", "en", 550},
};

/* Secondary time zones, per mille of the country's rows that name a zone
 * (Canary Islands ~4.5% of Spain, ...); unlisted secondary zones get
 * ZONE_PM_UNLISTED and the main zone the remainder. */
#define ZONE_PM_UNLISTED 30u
static const struct {
    const char *zone;
    unsigned pm;
} zone_shares[] = {
    {"Europe/Busingen", 1},       {"Atlantic/Canary", 45},    {"Africa/Ceuta", 2},
    {"Atlantic/Madeira", 25},     {"Atlantic/Azores", 23},    {"Asia/Famagusta", 250},
    {"America/Chicago", 290},     {"America/Denver", 70},     {"America/Los_Angeles", 330},
    {"America/Manaus", 30},       {"America/Vancouver", 150}, {"America/Edmonton", 120},
    {"Australia/Melbourne", 330}, {"Australia/Perth", 110},
};

/* Outside EU/EEA/UK: countries a European service sees in practice. Our own
 * table (region.h promises languages and zones only inside the region), with
 * hand weights rather than population, which India and the US would swamp. */
static const struct {
    char cc[3];
    const char *langs, *zones;
    unsigned weight;
} outside_places[] = {
    {"US", "en es", "America/New_York America/Chicago America/Denver America/Los_Angeles", 20},
    {"CH", "de fr it", "Europe/Zurich", 15},
    {"TR", "tr", "Europe/Istanbul", 15},
    {"UA", "uk", "Europe/Kyiv", 15},
    {"RS", "sr", "Europe/Belgrade", 8},
    {"BR", "pt", "America/Sao_Paulo America/Manaus", 8},
    {"MA", "ar fr", "Africa/Casablanca", 7},
    {"CA", "en fr", "America/Toronto America/Vancouver America/Edmonton", 5},
    {"IN", "hi en", "Asia/Kolkata", 4},
    {"AU", "en", "Australia/Sydney Australia/Melbourne Australia/Perth", 3},
};

/* Languages of people who settled in the region from elsewhere, or whose
 * phone is set to something unexpected: they exercise locale fallback. */
static const char *const foreign_langs[] = {
    "pt-BR", "en", "en-US", "tr", "ar", "ru", "uk", "zh-Hans", "es-419", "hi",
};

/* Reserved names only (RFC 2606 .example/.test, and the IDN test TLDs), so a
 * demo pointed at a real mail server by mistake cannot reach anybody. */
static const struct {
    const char *domain;
    unsigned pm;
} ascii_domains[] = {
    {"example.com", 400},  {"example.net", 200},  {"example.org", 150},
    {"mail.example", 100}, {"post.example", 100}, {"inbox.test", 50},
};
static const char *const idn_domains[] = {
    "münchen-post.example",
    "bücher.example",
    "пример.испытание",
    "παράδειγμα.δοκιμή",
};

static const char *const impossible_dates[] = {
    "2001-02-30", "1990-04-31", "1985-13-07", "2003-02-29", "1978-00-12",
};

static const char *const nicknames[] = {"Jo", "Mimi", "Bo", "Kiki", "Lu", "Max", "Pepe", "Tini"};

/* ---- PRNG ----------------------------------------------------------------
 * splitmix64 to derive seeds, xoshiro256** for each row's stream: small,
 * fast, and the same numbers on every platform (unlike rand()). */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* A number in [0, n): multiply-shift on the top 32 bits. The bias (at most
 * n / 2^32) is far below anything a demo could notice. */
static uint32_t below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* Distinct odd multipliers keep the row stream and the category hash apart
 * even though both start from (key, index). */
static void rng_for_row(struct rng *r, uint64_t key, uint64_t index)
{
    uint64_t x = key ^ (index * UINT64_C(0xd1342543de82ef95));
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint32_t category_draw(uint64_t key, uint64_t index)
{
    uint64_t x = key ^ (index * UINT64_C(0xaf251af3b0f025b5));
    return (uint32_t)(((splitmix64(&x) >> 32) * 1000000u) >> 32);
}

static enum category category_of(uint32_t ppm)
{
    uint32_t edge = PPM_MALFORMED;
    if (ppm < edge)
        return CAT_MALFORMED;
    if (ppm < (edge += PPM_OUTSIDE))
        return CAT_OUTSIDE;
    if (ppm < (edge += PPM_DUPLICATE))
        return CAT_DUPLICATE;
    if (ppm < (edge += PPM_OBJECTED))
        return CAT_OBJECTED;
    if (ppm < (edge += PPM_MINOR))
        return CAT_MINOR;
    return CAT_CLEAN;
}

/* ---- dates ---------------------------------------------------------------
 * Day numbers count from 0001-01-01 in the proleptic Gregorian calendar. */

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static long days_before_year(int y)
{
    long p = y - 1;
    return p * 365 + p / 4 - p / 100 + p / 400;
}

static long day_number(int y, int m, int d)
{
    long n = days_before_year(y);
    for (int i = 1; i < m; i++)
        n += month_days(y, i);
    return n + d - 1;
}

static void civil_date(long n, int *y, int *m, int *d)
{
    /* 146097 days per 400 years gives a year within one of the answer. */
    int yr = (int)(n * 400 / 146097) + 1;
    while (yr > 1 && days_before_year(yr) > n)
        yr--;
    while (days_before_year(yr + 1) <= n)
        yr++;
    n -= days_before_year(yr);
    int mo = 1;
    while (n >= month_days(yr, mo))
        n -= month_days(yr, mo++);
    *y = yr;
    *m = mo;
    *d = (int)n + 1;
}

/* The date `years` before y-m-d; 29 February becomes 28 February. */
static long years_before(int y, int m, int d, int years)
{
    int py = y - years;
    int md = month_days(py, m);
    return day_number(py, m, d < md ? d : md);
}

static bool date_valid(int y, int m, int d)
{
    return y >= 1900 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= month_days(y, m);
}

bool hd_synth_parse_date(const char *s, int *year, int *month, int *day)
{
    int v[3] = {0, 0, 0};
    static const int width[3] = {4, 2, 2};
    if (s == NULL)
        return false;
    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < width[f]; i++, s++) {
            if (*s < '0' || *s > '9')
                return false;
            v[f] = v[f] * 10 + (*s - '0');
        }
        if (*s != (f < 2 ? '-' : '\0'))
            return false;
        s++;
    }
    if (!date_valid(v[0], v[1], v[2]))
        return false;
    *year = v[0];
    *month = v[1];
    *day = v[2];
    return true;
}

void hd_synth_opts_init(struct hd_synth_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->seed = 1;
    opts->format = HD_AUDIENCE_CSV;
    opts->ref_year = 2025;
    opts->ref_month = 6;
    opts->ref_day = 26;
}

/* ---- generator tables ---------------------------------------------------- */

#define MAX_TOKENS 8
#define MAX_LANG_LEN 8
#define MAX_ZONE_LEN 64
#define MAX_PLACES 64

/* A country ready for drawing: its languages and zones split out of the
 * space-separated lists, with cumulative weights. */
struct place {
    char code[3];
    size_t nlang, nzone;
    const char *lang[MAX_TOKENS];
    size_t lang_len[MAX_TOKENS];
    unsigned lang_cum[MAX_TOKENS];
    const struct synth_names *names[MAX_TOKENS];
    const char *zone[MAX_TOKENS];
    size_t zone_len[MAX_TOKENS];
    unsigned zone_cum[MAX_TOKENS];
};

/* Bytes one row can take at most: every value at its cap, each byte escaped
 * to six in JSON, plus keys and punctuation. Checked below. */
#define ID_CAP 32
#define EMAIL_CAP 256
#define TOKEN_LEN 64
#define LANG_CAP 24
#define NAME_CAP 256
#define ROW_MAX 8192
_Static_assert(6 * (ID_CAP + EMAIL_CAP + TOKEN_LEN + 4 + LANG_CAP + 16 + MAX_ZONE_LEN + NAME_CAP) +
                       256 <=
                   ROW_MAX,
               "ROW_MAX too small for the worst-case row");

#define OUT_CAP ((size_t)1 << 20)
#define OBJ_CAP ((size_t)1 << 16)

struct outbuf {
    FILE *f;
    char *buf;
    size_t len, cap;
    int err; /* errno of the first failed write, 0 while all is well */
};

struct gen {
    uint64_t row_key, cat_key;
    enum hd_audience_format format;
    struct place region[MAX_PLACES];
    unsigned region_cum[MAX_PLACES];
    size_t nregion;
    struct place outside[COUNT(outside_places)];
    unsigned outside_cum[COUNT(outside_places)];
    const struct synth_names *foreign_names[COUNT(foreign_langs)];
    const struct synth_names *fallback_names;
    long adult_lo, adult_hi, minor_lo, minor_hi; /* birth day numbers */
    struct outbuf out, obj;
    char out_mem[OUT_CAP];
    char obj_mem[OBJ_CAP];
};

static const struct synth_names *names_for(const char *lang, size_t len)
{
    char primary[4];
    size_t n = 0;
    while (n < len && n < 3 && lang[n] != '-' && lang[n] != '_') {
        primary[n] = lang[n];
        n++;
    }
    primary[n] = '\0';
    /* Bokmål and Nynorsk speakers share Norwegian names. */
    if (strcmp(primary, "nb") == 0 || strcmp(primary, "nn") == 0)
        strcpy(primary, "no");
    for (size_t i = 0; i < COUNT(synth_name_tables); i++)
        if (strcmp(synth_name_tables[i].lang, primary) == 0)
            return &synth_name_tables[i];
    return NULL;
}

/* Splits a space-separated list; returns the number of tokens kept. */
static size_t split_tokens(const char *list, size_t maxlen, const char **tok, size_t *len)
{
    size_t n = 0;
    while (list != NULL && *list != '\0' && n < MAX_TOKENS) {
        const char *end = strchr(list, ' ');
        size_t l = end ? (size_t)(end - list) : strlen(list);
        if (l > 0 && l <= maxlen) {
            tok[n] = list;
            len[n++] = l;
        }
        list += l;
        while (*list == ' ')
            list++;
    }
    return n;
}

static unsigned lang_share(const char *cc, const char *lang, size_t len, bool *listed)
{
    for (size_t i = 0; i < COUNT(lang_shares); i++) {
        if (strcmp(lang_shares[i].cc, cc) != 0)
            continue;
        *listed = true;
        if (strlen(lang_shares[i].lang) == len && memcmp(lang_shares[i].lang, lang, len) == 0)
            return lang_shares[i].pm;
    }
    return 0;
}

static unsigned zone_share(const char *zone, size_t len)
{
    for (size_t i = 0; i < COUNT(zone_shares); i++)
        if (strlen(zone_shares[i].zone) == len && memcmp(zone_shares[i].zone, zone, len) == 0)
            return zone_shares[i].pm;
    return ZONE_PM_UNLISTED;
}

/* Fills a place from a country code and its lists; false when the lists
 * give no language or no zone. */
static bool place_init(struct place *p, const char *cc, const char *langs, const char *zones,
                       const struct synth_names *fallback)
{
    unsigned w[MAX_TOKENS], sum = 0;
    bool listed = false;
    memcpy(p->code, cc, 3);
    p->nlang = split_tokens(langs, MAX_LANG_LEN, p->lang, p->lang_len);
    p->nzone = split_tokens(zones, MAX_ZONE_LEN, p->zone, p->zone_len);
    if (p->nlang == 0 || p->nzone == 0)
        return false;

    for (size_t i = 0; i < p->nlang; i++)
        w[i] = lang_share(cc, p->lang[i], p->lang_len[i], &listed);
    for (size_t i = 0; i < p->nlang; i++) {
        if (listed)
            w[i] = w[i] ? w[i] : LANG_PM_UNLISTED;
        else if (p->nlang == 1)
            w[i] = 1000;
        else
            w[i] = i == 0 ? LANG_PM_MAIN : (1000 - LANG_PM_MAIN) / (unsigned)(p->nlang - 1);
        sum += w[i];
        p->lang_cum[i] = sum;
        p->names[i] = names_for(p->lang[i], p->lang_len[i]);
    }
    /* A language without a name table borrows the main language's, then English. */
    for (size_t i = 0; i < p->nlang; i++)
        if (p->names[i] == NULL)
            p->names[i] = p->names[0] ? p->names[0] : fallback;

    sum = 0;
    for (size_t i = 1; i < p->nzone; i++)
        sum += zone_share(p->zone[i], p->zone_len[i]);
    w[0] = sum < 900 ? 1000 - sum : 100;
    p->zone_cum[0] = w[0];
    for (size_t i = 1; i < p->nzone; i++)
        p->zone_cum[i] = p->zone_cum[i - 1] + zone_share(p->zone[i], p->zone_len[i]);
    return true;
}

/* Rows are built in fixed buffers (NAME_CAP, EMAIL_CAP) without per-byte
 * bounds checks; this keeps a future table edit from overrunning them. With
 * every part at most NAME_PART_MAX bytes, a name takes at most two parts, a
 * nickname and separators, and an address two parts (lower-casing never
 * lengthens them), a number, a domain and a defect byte. */
#define NAME_PART_MAX 60
_Static_assert(2 * NAME_PART_MAX + NAME_PART_MAX + 8 <= NAME_CAP, "NAME_CAP too small");
_Static_assert(3 * NAME_PART_MAX + 24 + 2 <= EMAIL_CAP, "EMAIL_CAP too small");

static bool name_tables_fit(void)
{
    for (size_t t = 0; t < COUNT(synth_name_tables); t++) {
        const struct synth_names *n = &synth_name_tables[t];
        for (size_t i = 0; i < SYNTH_NAMES_PER_LIST; i++) {
            const char *parts[] = {n->female[i].s, n->female[i].a, n->male[i].s,
                                   n->male[i].a,   n->family[i].m, n->family[i].ma,
                                   n->family[i].f, n->family[i].fa};
            for (size_t k = 0; k < COUNT(parts); k++)
                if (parts[k] != NULL && strlen(parts[k]) > NAME_PART_MAX)
                    return false;
        }
    }
    for (size_t i = 0; i < COUNT(idn_domains); i++)
        if (strlen(idn_domains[i]) > NAME_PART_MAX)
            return false;
    for (size_t i = 0; i < COUNT(nicknames); i++)
        if (strlen(nicknames[i]) > NAME_PART_MAX)
            return false;
    return true;
}

static int gen_init(struct gen *g, const struct hd_synth_opts *opts, struct hd_err *err)
{
    uint64_t x = opts->seed;
    unsigned total = 0;
    const struct hd_country *c;

    g->row_key = splitmix64(&x);
    g->cat_key = splitmix64(&x);
    g->format = opts->format;
    g->fallback_names = names_for("en", 2);

    for (size_t i = 0; (c = hd_country_in_groups(HD_GROUP_EU | HD_GROUP_EEA | HD_GROUP_UK, i));
         i++) {
        if (c->population_k == 0)
            continue;
        if (g->nregion == MAX_PLACES) {
            hd_err_set(err, HD_EX_SOFTWARE,
                       "synthetic audience: more than %d countries in the region", MAX_PLACES);
            return -1;
        }
        if (!place_init(&g->region[g->nregion], c->code, c->languages, c->time_zones,
                        g->fallback_names))
            continue;
        total += c->population_k;
        g->region_cum[g->nregion++] = total;
    }
    if (g->nregion == 0 || total > UINT32_MAX / 2) {
        hd_err_set(err, HD_EX_SOFTWARE, "synthetic audience: unusable region table");
        return -1;
    }
    if (!name_tables_fit()) {
        hd_err_set(err, HD_EX_SOFTWARE, "synthetic audience: a name table entry is too long");
        return -1;
    }

    total = 0;
    for (size_t i = 0; i < COUNT(outside_places); i++) {
        if (!place_init(&g->outside[i], outside_places[i].cc, outside_places[i].langs,
                        outside_places[i].zones, g->fallback_names)) {
            hd_err_set(err, HD_EX_SOFTWARE, "synthetic audience: bad table entry '%s'",
                       outside_places[i].cc);
            return -1;
        }
        total += outside_places[i].weight;
        g->outside_cum[i] = total;
    }
    for (size_t i = 0; i < COUNT(foreign_langs); i++)
        g->foreign_names[i] = names_for(foreign_langs[i], strlen(foreign_langs[i]));

    /* Adults are 18 to 90 at the reference date, minors 13 to 17 (the ages
     * at which people hold their own accounts). */
    g->adult_hi = years_before(opts->ref_year, opts->ref_month, opts->ref_day, 18);
    g->adult_lo = years_before(opts->ref_year, opts->ref_month, opts->ref_day, 91) + 1;
    g->minor_lo = g->adult_hi + 1;
    g->minor_hi = years_before(opts->ref_year, opts->ref_month, opts->ref_day, 13);
    return 0;
}

/* Index of the first cumulative weight above x. */
static size_t pick(const unsigned *cum, size_t n, unsigned x)
{
    size_t i = 0;
    while (i + 1 < n && x >= cum[i])
        i++;
    return i;
}

/* ---- text helpers ---------------------------------------------------------- */

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *put_str(char *p, const char *s)
{
    return put(p, s, strlen(s));
}

static char *put_uint(char *p, uint64_t n, int width)
{
    char tmp[24];
    int len = 0;
    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    for (int i = len; i < width; i++)
        *p++ = '0';
    while (len > 0)
        *p++ = tmp[--len];
    return p;
}

/* Ids are "u" and the 1-based row number, nine digits wide so that they sort
 * like numbers up to a billion rows. */
static size_t format_id(char *out, uint64_t index)
{
    out[0] = 'u';
    return (size_t)(put_uint(out + 1, index + 1, 9) - out);
}

static bool has_non_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

/* Lower case for the scripts in the name tables: ASCII, Latin-1, Latin
 * Extended-A and the Romanian comma letters, Greek and Cyrillic. */
static uint32_t lower_cp(uint32_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 0x20;
    if (c == 0x130) /* Turkish dotted capital I */
        return 'i';
    if (((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177) || (c >= 0x218 && c <= 0x21B)) &&
        c % 2 == 0)
        return c + 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 1)
        return c + 1;
    if (c == 0x386)
        return 0x3AC;
    if (c >= 0x388 && c <= 0x38A)
        return c + 0x25;
    if (c == 0x38C)
        return 0x3CC;
    if (c == 0x38E || c == 0x38F)
        return c + 0x3F;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
        return c + 0x20;
    if (c >= 0x400 && c <= 0x40F)
        return c + 0x50;
    if (c >= 0x410 && c <= 0x42F)
        return c + 0x20;
    return c;
}

/* Appends the letters of a (valid UTF-8) name in lower case, dropping the
 * spaces and apostrophes that cannot stand unquoted in a local part. */
static char *put_lower_letters(char *p, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        uint32_t c;
        int extra;
        if (*u < 0x80) {
            c = *u;
            extra = 0;
        } else if (*u < 0xE0) {
            c = *u & 0x1Fu;
            extra = 1;
        } else if (*u < 0xF0) {
            c = *u & 0x0Fu;
            extra = 2;
        } else {
            c = *u & 0x07u;
            extra = 3;
        }
        u++;
        for (int i = 0; i < extra && (*u & 0xC0) == 0x80; i++)
            c = (c << 6) | (*u++ & 0x3Fu);
        if (c == ' ' || c == '\'')
            continue;
        c = lower_cp(c);
        if (c < 0x80) {
            *p++ = (char)c;
        } else if (c < 0x800) {
            *p++ = (char)(0xC0 | (c >> 6));
            *p++ = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            *p++ = (char)(0xE0 | (c >> 12));
            *p++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *p++ = (char)(0x80 | (c & 0x3F));
        } else {
            *p++ = (char)(0xF0 | (c >> 18));
            *p++ = (char)(0x80 | ((c >> 12) & 0x3F));
            *p++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *p++ = (char)(0x80 | (c & 0x3F));
        }
    }
    return p;
}

/* ---- one row --------------------------------------------------------------- */

struct row {
    char id[ID_CAP];
    char email[EMAIL_CAP];
    char token[TOKEN_LEN];
    char country[4];
    char lang[LANG_CAP];
    char date[16];
    char name[NAME_CAP];
    const char *zone;
    size_t id_len, email_len, token_len, country_len, lang_len, date_len, zone_len, name_len;
    bool drop_last_field;   /* CSV shape defect */
    bool country_as_object; /* JSONL shape defect */
};

/* What a row turned out to be, for the stats and the objections list. */
struct row_info {
    enum category cat;
    int defect; /* enum hd_synth_defect, or -1 */
    bool foreign_language, idn_email, non_ascii_email;
};

static void make_token(struct rng *r, char *out)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t bits = 0;
    int left = 0;
    for (int i = 0; i < TOKEN_LEN; i++) {
        if (left < 6) {
            bits = rng_next(r);
            left = 64;
        }
        out[i] = b64url[bits & 63];
        bits >>= 6;
        left -= 6;
    }
}

/* Writes YYYY-MM-DD; *year receives the year (email numbers use it). */
static size_t make_date(char *out, long day, int *year)
{
    int y, m, d;
    char *p = out;
    civil_date(day, &y, &m, &d);
    *year = y;
    p = put_uint(p, (uint64_t)y, 4);
    *p++ = '-';
    p = put_uint(p, (uint64_t)m, 2);
    *p++ = '-';
    p = put_uint(p, (uint64_t)d, 2);
    return (size_t)(p - out);
}

/* Turns a valid name into one with invalid UTF-8, the way it happens in
 * practice: a Latin-1 letter from a legacy export, else a multi-byte letter
 * cut short by a byte limit, else a stray Latin-1 'é'. */
static void break_utf8(struct row *row)
{
    unsigned char *s = (unsigned char *)row->name;
    size_t n = row->name_len;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == 0xC2 || s[i] == 0xC3) {
            unsigned char latin1 = (unsigned char)(s[i] == 0xC2 ? s[i + 1] : s[i + 1] + 0x40);
            s[i] = latin1;
            memmove(s + i + 1, s + i + 2, n - i - 2);
            row->name_len = n - 1;
            return;
        }
    }
    for (size_t i = n; i-- > 0;) {
        if (s[i] >= 0xC0) {
            row->name_len = i + 1; /* keep the lead byte, drop the rest */
            return;
        }
    }
    s[n - 1] = 0xE9;
}

static void apply_defect(struct gen *g, struct rng *r, struct row *row, int defect)
{
    switch (defect) {
    case HD_SYNTH_BAD_EMAIL: {
        char *at = memchr(row->email, '@', row->email_len);
        if (below(r, 2) == 0 && at != NULL) {
            memmove(at, at + 1, row->email_len - (size_t)(at - row->email) - 1);
            row->email_len--;
        } else {
            char *dot = memchr(row->email, '.', row->email_len);
            size_t at_dot = dot ? (size_t)(dot - row->email) : row->email_len - 1;
            memmove(row->email + at_dot + 1, row->email + at_dot, row->email_len - at_dot);
            row->email[at_dot] = '.';
            row->email_len++;
        }
        break;
    }
    case HD_SYNTH_BAD_COUNTRY:
        memcpy(row->country, "XX", 2);
        row->country_len = 2;
        break;
    case HD_SYNTH_BAD_DATE: {
        const char *d = impossible_dates[below(r, COUNT(impossible_dates))];
        row->date_len = strlen(d);
        memcpy(row->date, d, row->date_len);
        break;
    }
    case HD_SYNTH_BAD_CONTROL: {
        /* A TAB where a spreadsheet column was pasted in, or a CR where a
         * multi-line cell broke the name. Inside the name, never at an end:
         * white space around a value is trimmed (audience-format.md,
         * "Forgiving input"), so a trailing CR is no defect any more. Names
         * always hold a space ("First Family"); the fallback is for safety. */
        char *sp = memchr(row->name, ' ', row->name_len);
        char c = below(r, 2) == 0 ? '\t' : '\r';
        if (sp != NULL) {
            *sp = c;
        } else if (row->name_len + 2 <= sizeof row->name) {
            row->name[row->name_len++] = c;
            row->name[row->name_len++] = '.';
        }
        break;
    }
    case HD_SYNTH_BAD_UTF8:
        break_utf8(row);
        break;
    case HD_SYNTH_BAD_SHAPE:
        if (g->format == HD_AUDIENCE_CSV)
            row->drop_last_field = true;
        else
            row->country_as_object = true;
        break;
    }
}

/* An earlier row that is clean, for a duplicate id to repeat, so that a
 * duplicate never hides another exclusion; -1 when none turned up. */
static int64_t earlier_clean_row(const struct gen *g, struct rng *r, uint64_t index)
{
    if (index == 0)
        return -1;
    for (int tries = 0; tries < 16; tries++) {
        uint64_t j = index <= UINT32_MAX ? below(r, (uint32_t)index)
                                         : (rng_next(r) % index); /* huge files only */
        if (category_of(category_draw(g->cat_key, j)) == CAT_CLEAN)
            return (int64_t)j;
    }
    return -1;
}

static void make_row(struct gen *g, uint64_t index, struct row *row, struct row_info *info)
{
    struct rng r;
    const struct place *p;
    const struct synth_names *nt;
    const struct synth_name *first;
    const struct synth_family *fam;
    const char *family, *family_ascii;
    int year;
    bool female, want_email, non_ascii_local, want_name;
    char *q;

    memset(info, 0, sizeof *info);
    info->defect = -1;
    info->cat = category_of(category_draw(g->cat_key, index));
    rng_for_row(&r, g->row_key, index);

    row->id_len = format_id(row->id, index);
    if (info->cat == CAT_DUPLICATE) {
        int64_t j = earlier_clean_row(g, &r, index);
        if (j < 0)
            info->cat = CAT_CLEAN;
        else
            row->id_len = format_id(row->id, (uint64_t)j);
    }
    if (info->cat == CAT_MALFORMED)
        info->defect = (int)below(&r, HD_SYNTH_BAD_COUNT);

    if (info->cat == CAT_OUTSIDE)
        p = &g->outside[pick(g->outside_cum, COUNT(outside_places),
                             below(&r, g->outside_cum[COUNT(outside_places) - 1]))];
    else
        p = &g->region[pick(g->region_cum, g->nregion, below(&r, g->region_cum[g->nregion - 1]))];

    /* Language, and whose names the person has. */
    uint32_t lr = below(&r, 1000);
    nt = p->names[0];
    row->lang_len = 0;
    if (lr < PM_NO_LANGUAGE) {
        /* no language: the planner falls back to the country's */
    } else if (lr < PM_NO_LANGUAGE + PM_FOREIGN_LANGUAGE) {
        size_t k = below(&r, COUNT(foreign_langs));
        row->lang_len = (size_t)(put_str(row->lang, foreign_langs[k]) - row->lang);
        if (g->foreign_names[k] != NULL)
            nt = g->foreign_names[k];
        info->foreign_language = true;
    } else {
        size_t k = pick(p->lang_cum, p->nlang, below(&r, p->lang_cum[p->nlang - 1]));
        q = put(row->lang, p->lang[k], p->lang_len[k]);
        if (below(&r, 100) < PCT_REGION_SUBTAG) {
            /* Now and then the POSIX spelling "de_AT", as apps export it. */
            *q++ = below(&r, 10) == 0 ? '_' : '-';
            q = put(q, p->code, 2);
        }
        row->lang_len = (size_t)(q - row->lang);
        nt = p->names[k];
    }
    if (nt == NULL)
        nt = g->fallback_names;

    want_email = below(&r, 100) >= PCT_NO_EMAIL || info->defect == HD_SYNTH_BAD_EMAIL;
    non_ascii_local =
        want_email && below(&r, 1000) < PM_NON_ASCII_LOCAL && info->defect != HD_SYNTH_BAD_EMAIL;

    /* The name; a non-ASCII local part needs a name with non-ASCII letters. */
    female = below(&r, 2) == 0;
    for (int tries = 0;; tries++) {
        first = female ? &nt->female[below(&r, SYNTH_NAMES_PER_LIST)]
                       : &nt->male[below(&r, SYNTH_NAMES_PER_LIST)];
        fam = &nt->family[below(&r, SYNTH_NAMES_PER_LIST)];
        family = female && fam->f ? fam->f : fam->m;
        family_ascii = female && fam->f ? fam->fa : fam->ma;
        if (!non_ascii_local || tries == 8 || has_non_ascii(first->s) || has_non_ascii(family))
            break;
    }
    uint32_t nr = below(&r, 1000);
    want_name = nr >= PM_NO_NAME || info->defect == HD_SYNTH_BAD_CONTROL ||
                info->defect == HD_SYNTH_BAD_UTF8;
    q = row->name;
    if (!want_name) {
        /* no display name */
    } else if (nr < PM_NO_NAME + PM_NAME_COMMA) {
        q = put_str(put_str(put_str(q, family), ", "), first->s);
    } else if (nr < PM_NO_NAME + PM_NAME_COMMA + PM_NAME_QUOTE) {
        q = put_str(put_str(q, first->s), " \"");
        q = put_str(put_str(q, nicknames[below(&r, COUNT(nicknames))]), "\" ");
        q = put_str(q, family);
    } else if (nt->family_first) {
        q = put_str(put_str(put_str(q, family), " "), first->s);
    } else {
        q = put_str(put_str(put_str(q, first->s), " "), family);
    }
    row->name_len = (size_t)(q - row->name);

    /* Birth date: minors 13-17, everybody else 18-90, with the two birthdays
     * an age check most easily gets wrong over-represented: minors who turn
     * 18 the day after the reference date, adults who turned 18 on it. */
    long lo = info->cat == CAT_MINOR ? g->minor_lo : g->adult_lo;
    long hi = info->cat == CAT_MINOR ? g->minor_hi : g->adult_hi;
    long day = lo + (long)below(&r, (uint32_t)(hi - lo + 1));
    if (info->cat == CAT_MINOR && below(&r, 100) < PCT_MINOR_EDGE)
        day = g->minor_lo;
    else if (info->cat != CAT_MINOR && below(&r, 1000) < PM_ADULT_EDGE)
        day = g->adult_hi;
    row->date_len = make_date(row->date, day, &year);

    /* Email: derived from the transliterated name, plus a number. */
    row->email_len = 0;
    if (want_email) {
        q = row->email;
        if (non_ascii_local) {
            q = put_lower_letters(q, first->s);
            *q++ = '.';
            q = put_lower_letters(q, family);
            /* Counted from the bytes: Turkish "İ" lower-cases to ASCII "i". */
            for (const char *c = row->email; c < q && !info->non_ascii_email; c++)
                info->non_ascii_email = (unsigned char)*c >= 0x80;
        } else {
            switch (below(&r, 5)) {
            case 0:
                q = put_str(put_str(put_str(q, first->a), "."), family_ascii);
                break;
            case 1:
                q = put_str(put_str(q, first->a), family_ascii);
                break;
            case 2:
                q = put_str(put_str(put_str(q, first->a), "_"), family_ascii);
                break;
            case 3:
                *q++ = first->a[0];
                q = put_str(put_str(q, "."), family_ascii);
                break;
            default:
                q = put_str(put_str(put_str(q, family_ascii), "."), first->a);
                break;
            }
        }
        if (below(&r, 10) < 6)
            q = put_uint(q, below(&r, 999) + 1, 0);
        else
            q = put_uint(q, (uint64_t)year, 4);
        *q++ = '@';
        if (below(&r, 1000) < PM_IDN_DOMAIN && info->defect != HD_SYNTH_BAD_EMAIL) {
            q = put_str(q, idn_domains[below(&r, COUNT(idn_domains))]);
            info->idn_email = true;
        } else {
            uint32_t dr = below(&r, 1000), edge = 0;
            size_t k = 0;
            while (k + 1 < COUNT(ascii_domains) && dr >= (edge += ascii_domains[k].pm))
                k++;
            q = put_str(q, ascii_domains[k].domain);
        }
        row->email_len = (size_t)(q - row->email);
    }

    row->token_len = 0;
    if (below(&r, 100) >= PCT_NO_PUSH) {
        make_token(&r, row->token);
        row->token_len = TOKEN_LEN;
    }

    row->zone = ""; /* absent: the planner uses the country's main zone */
    row->zone_len = 0;
    if (below(&r, 100) >= PCT_NO_TIME_ZONE) {
        size_t k = pick(p->zone_cum, p->nzone, below(&r, p->zone_cum[p->nzone - 1]));
        row->zone = p->zone[k];
        row->zone_len = p->zone_len[k];
    }

    memcpy(row->country, p->code, 2);
    if (p->code[0] == 'G' && p->code[1] == 'B' && below(&r, 100) < PCT_GB_AS_UK)
        memcpy(row->country, "UK", 2);
    if (below(&r, 100) < PCT_COUNTRY_LOWER) {
        row->country[0] = (char)(row->country[0] + 32);
        row->country[1] = (char)(row->country[1] + 32);
    }
    row->country_len = 2;

    row->drop_last_field = false;
    row->country_as_object = false;
    if (info->defect >= 0)
        apply_defect(g, &r, row, info->defect);
}

/* ---- output -------------------------------------------------------------- */

static void ob_flush(struct outbuf *o)
{
    if (o->len > 0 && o->err == 0) {
        errno = 0;
        if (fwrite(o->buf, 1, o->len, o->f) != o->len)
            o->err = errno ? errno : EIO;
    }
    o->len = 0;
}

/* Room for n more bytes at o->buf + o->len. */
static char *ob_room(struct outbuf *o, size_t n)
{
    if (o->cap - o->len < n)
        ob_flush(o);
    return o->buf + o->len;
}

static bool csv_needs_quotes(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
            return true;
    return false;
}

static char *csv_field(char *p, const char *s, size_t n)
{
    if (!csv_needs_quotes(s, n))
        return put(p, s, n);
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            *p++ = '"';
        *p++ = s[i];
    }
    *p++ = '"';
    return p;
}

/* Ids, tokens, country codes and dates come from fixed alphabets that need
 * no quoting; skipping the scan for them is a quarter of the CSV time. */
static char *write_csv(char *p, const struct row *row)
{
    p = put(p, row->id, row->id_len);
    *p++ = ',';
    p = csv_field(p, row->email, row->email_len);
    *p++ = ',';
    p = put(p, row->token, row->token_len);
    *p++ = ',';
    p = put(p, row->country, row->country_len);
    *p++ = ',';
    p = csv_field(p, row->lang, row->lang_len);
    *p++ = ',';
    p = put(p, row->date, row->date_len);
    *p++ = ',';
    p = csv_field(p, row->zone, row->zone_len);
    if (!row->drop_last_field) {
        *p++ = ',';
        p = csv_field(p, row->name, row->name_len);
    }
    *p++ = '\n';
    return p;
}

/* JSON string; bytes >= 0x80 pass through, so a name with invalid UTF-8
 * makes an invalid JSON line on purpose (see HD_SYNTH_BAD_UTF8). */
static char *json_string(char *p, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            *p++ = '\\';
            *p++ = (char)ch;
        } else if (ch == '\n') {
            p = put(p, "\\n", 2);
        } else if (ch == '\r') {
            p = put(p, "\\r", 2);
        } else if (ch == '\t') {
            p = put(p, "\\t", 2);
        } else if (ch < 0x20) {
            p = put(p, "\\u00", 4);
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        } else {
            *p++ = (char)ch;
        }
    }
    *p++ = '"';
    return p;
}

static char *json_member(char *p, const char *key, const char *s, size_t n)
{
    if (n == 0)
        return p; /* absent values are left out */
    p = put_str(p, key);
    return json_string(p, s, n);
}

static char *write_jsonl(char *p, const struct row *row)
{
    p = json_string(put(p, "{\"id\":", 6), row->id, row->id_len);
    p = json_member(p, ",\"email\":", row->email, row->email_len);
    p = json_member(p, ",\"push_token\":", row->token, row->token_len);
    if (row->country_as_object) {
        p = put_str(p, ",\"country\":{\"code\":");
        p = json_string(p, row->country, row->country_len);
        *p++ = '}';
    } else {
        p = json_member(p, ",\"country\":", row->country, row->country_len);
    }
    p = json_member(p, ",\"language\":", row->lang, row->lang_len);
    p = json_member(p, ",\"birth_date\":", row->date, row->date_len);
    p = json_member(p, ",\"time_zone\":", row->zone, row->zone_len);
    p = json_member(p, ",\"name\":", row->name, row->name_len);
    return put(p, "}\n", 2);
}

static void count_row(struct hd_synth_stats *st, const struct row *row, const struct row_info *info)
{
    st->rows++;
    switch (info->cat) {
    case CAT_MALFORMED:
        st->malformed++;
        st->malformed_by[info->defect]++;
        break;
    case CAT_OUTSIDE:
        st->outside_region++;
        break;
    case CAT_DUPLICATE:
        st->duplicates++;
        break;
    case CAT_OBJECTED:
        st->objected++;
        break;
    case CAT_MINOR:
        st->minors++;
        break;
    case CAT_CLEAN:
        break;
    }
    st->no_email += row->email_len == 0;
    st->no_push_token += row->token_len == 0;
    st->no_contact += row->email_len == 0 && row->token_len == 0;
    st->idn_email += info->idn_email;
    st->non_ascii_email += info->non_ascii_email;
    st->no_language += row->lang_len == 0;
    st->foreign_language += info->foreign_language;
    st->no_time_zone += row->zone_len == 0;
    st->no_name += row->name_len == 0;
}

static int finish(struct outbuf *o, const char *name, struct hd_err *err)
{
    ob_flush(o);
    if (o->err == 0 && fflush(o->f) != 0)
        o->err = errno ? errno : EIO;
    if (o->err == 0 && ferror(o->f))
        o->err = EIO;
    if (o->err != 0) {
        hd_err_set(err, HD_EX_IOERR, "cannot write '%s': %s", name, strerror(o->err));
        return -1;
    }
    return 0;
}

int hd_synth_write(const struct hd_synth_opts *opts, FILE *out, FILE *objections,
                   struct hd_synth_stats *stats, struct hd_err *err)
{
    struct hd_synth_stats local;
    struct hd_synth_stats *st = stats ? stats : &local;
    const char *out_name = opts->out_name ? opts->out_name : "output";
    const char *obj_name = opts->objections_name ? opts->objections_name : "objections";
    struct gen *g;
    struct row row;
    struct row_info info;
    int rc = 0;

    memset(st, 0, sizeof *st);
    if (!date_valid(opts->ref_year, opts->ref_month, opts->ref_day)) {
        hd_err_set(err, HD_EX_USAGE, "bad reference date %04d-%02d-%02d", opts->ref_year,
                   opts->ref_month, opts->ref_day);
        return -1;
    }
    if (opts->format != HD_AUDIENCE_CSV && opts->format != HD_AUDIENCE_JSONL) {
        hd_err_set(err, HD_EX_USAGE, "unknown audience format %d", (int)opts->format);
        return -1;
    }
    g = malloc(sizeof *g);
    if (g == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "synthetic audience: out of memory");
        return -1;
    }
    memset(g, 0, offsetof(struct gen, out_mem));
    if (gen_init(g, opts, err) != 0) {
        free(g);
        return -1;
    }
    g->out = (struct outbuf){out, g->out_mem, 0, OUT_CAP, 0};
    g->obj = (struct outbuf){objections, g->obj_mem, 0, OBJ_CAP, 0};

    if (opts->format == HD_AUDIENCE_CSV) {
        static const char header[] =
            "id,email,push_token,country,language,birth_date,time_zone,name\n";
        memcpy(ob_room(&g->out, sizeof header), header, sizeof header - 1);
        g->out.len += sizeof header - 1;
    }
    for (uint64_t i = 0; i < opts->rows && g->out.err == 0 && g->obj.err == 0; i++) {
        char *p;
        make_row(g, i, &row, &info);
        p = ob_room(&g->out, ROW_MAX);
        p = opts->format == HD_AUDIENCE_CSV ? write_csv(p, &row) : write_jsonl(p, &row);
        g->out.len = (size_t)(p - g->out.buf);
        if (info.cat == CAT_OBJECTED && objections != NULL) {
            p = ob_room(&g->obj, ID_CAP + 1);
            p = put(p, row.id, row.id_len);
            *p++ = '\n';
            g->obj.len = (size_t)(p - g->obj.buf);
        }
        count_row(st, &row, &info);
    }
    if (finish(&g->out, out_name, err) != 0)
        rc = -1;
    else if (objections != NULL && finish(&g->obj, obj_name, err) != 0)
        rc = -1;
    free(g);
    return rc;
}
