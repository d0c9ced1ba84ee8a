/**
 * The text the example's character model is trained on: plain prose written for this project,
 * lower case, about a harbour town through one year. Small on purpose (a few kilobytes): the
 * model learns which letters follow which pairs of letters, enough to babble English-looking
 * words, which is all a streaming demo needs.
 */
export const CORPUS = `
the harbour wakes before the town does. at five the first boats slip their ropes and move out
past the stone wall, one light after another, and the water behind them closes like a door.
the gulls follow for a while and then give up and go back to the roofs of the fish market.
by six the bakers on the hill street have their ovens hot, and the smell of bread comes down
to the quay with the wind. the men who stay ashore mend nets on the long benches, talking about
the weather, the price of diesel, the new harbour master and the old one, who was better.

in spring the town paints itself. every house on the front gets a new coat, blue or white or
the yellow of butter, and the ladders lean against the walls for weeks. children sell lemonade
on the steps of the church. the ferry starts again in april, twice a day, and brings walkers
with heavy boots and maps in plastic covers. they ask the way to the lighthouse, which is easy
to find, since it is the tallest thing for miles and it stands at the end of the only road.

summer is loud. the beach fills by ten in the morning, and the cafe on the corner puts out more
tables than the pavement can hold. the fishermen complain about the visitors and sell them crab
sandwiches at twice the winter price. in the evenings the band plays on the bandstand, the same
six songs every night, and nobody minds. the sun goes down late, red behind the island, and the
boats come home heavy, their decks bright with ice and silver fish.

autumn brings the storms. the sea turns grey and stands up in long walls that break over the
harbour arm and run white across the road. the ferry stops. the cafe keeps only two tables. the
men pull the small boats high up the slip and tie them down, and the town listens to the wind
at night and counts the tiles on the roofs in the morning. the school opens again, the bus runs
on time, and the lighthouse keeper, who is also the postman, carries letters in a yellow coat.

winter is quiet and short in the day. the lamps on the quay come on at four. the baker makes
dark bread with seeds, and the old women buy it still warm and carry it home under their arms.
on clear nights the stars are so many that the sky looks dusty, and the beam of the lighthouse
turns above the roofs, white, then dark, then white again. the boats go out when the weather
lets them, and the town waits for them, as it always has, watching the water from the windows.

then the year turns, and the harbour wakes before the town again. the first boat goes out in
the dark, its engine low and steady, and the wall, the water and the light are where they were.
people who leave say they miss the sound of the sea more than anything. people who stay say they
do not hear it any more, and then, on a calm night, they stand at the door and listen.
`;
