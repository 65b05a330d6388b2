# fish completion for pqueue (pkit): the binary answers via COMP_LINE.
function __complete_pqueue
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pqueue
end
complete -c pqueue -a "(__complete_pqueue)"
