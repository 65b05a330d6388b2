# fish completion for pqueue (pkit): pkit-complete answers from pqueue's grammar.
function __complete_pqueue
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pkit-complete pqueue
end
complete -c pqueue -a "(__complete_pqueue)"
