# fish completion for ptree (pkit): the binary answers via COMP_LINE.
function __complete_ptree
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command ptree
end
complete -c ptree -a "(__complete_ptree)"
